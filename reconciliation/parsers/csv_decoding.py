"""Bytes → physical lines of text, streamed, with the encoding detected from a sample.

The upload is read in chunks through an incremental decoder: never `read()` whole. A byte
the chosen encoding cannot decode stops the import with the line it is on, instead of being
replaced by mojibake. Lines end at LF, CRLF, a lone CR (classic Mac, the Mint export) or
CR CR LF (a CRLF file converted once more, the Rabobank export), which counts as one line
ending so that line numbers match what the bank's row count suggests.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Generator, Iterator
from typing import BinaryIO, Final

from charset_normalizer import from_bytes

from reconciliation.parsers.types import ParseError, UnsupportedFormatError

SAMPLE_BYTES: Final = 64 * 1024
CHUNK_BYTES: Final = 64 * 1024
LINE_LIMIT: Final = 1024 * 1024  # a physical line; fields are limited separately by csv

_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# When several code pages decode the sample to the same text, the most common one wins, so
# bytes after the sample are read the way a bank in that region most likely wrote them.
_PREFERRED: Final = ("utf_8", "cp1252", "cp1251", "cp1250", "iso8859_15", "latin_1")
# What banks export in; DOS and exotic code pages only win on tiny samples by accident.
_CANDIDATES: Final = [
    "utf_8", "cp1252", "cp1250", "cp1251", "latin_1", "iso8859_15", "iso8859_2", "cp1253",
    "cp1254", "cp1257", "koi8_r", "koi8_u", "cp866", "cp1255", "cp1256",
    "iso8859_7", "iso8859_9", "shift_jis", "cp932", "euc_jp", "gb18030", "big5", "euc_kr",
]  # fmt: skip
# How much worse charset-normalizer may score cp1251 than its pick (koi8_r, mac_cyrillic).
_CHAOS_MARGIN: Final = 0.1
_NON_LATIN_RUN: Final = re.compile(rb"[\xc0-\xff]{3}")
# Superscripts, fractions, ordinal and degree signs, currency and punctuation symbols
# that cp1252 decodes Polish/Czech letters into: never found between two letters.
_SYMBOL_IN_WORD: Final = re.compile(
    r"[^\W\d_]"
    r"[\u00a5-\u00a9\u00aa\u00ae\u00af\u00b0-\u00b4\u00b6-\u00ba\u00bc-\u00bf]"
    r"[^\W\d_]"
)
_LATIN_ACCENT: Final = re.compile(rb"[A-Za-z][\xc0-\xff][A-Za-z]?|[\xc0-\xff][A-Za-z]")


def read_sample(stream: BinaryIO, size: int = SAMPLE_BYTES) -> bytes:
    """Up to `size` bytes from the start of the stream (short reads are retried)."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _bom(sample: bytes) -> tuple[str, int] | None:
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name, len(bom)
    return None


def _utf16_without_bom(sample: bytes) -> str | None:
    """UTF-16 text has a NUL in every other byte for Latin script."""
    head = sample[:4096]
    pairs = len(head) // 2
    if pairs < 4:
        return None
    even = sum(1 for i in range(0, pairs * 2, 2) if head[i] == 0)
    odd = sum(1 for i in range(1, pairs * 2, 2) if head[i] == 0)
    if odd > pairs * 0.3 and even < pairs * 0.05:
        return "utf-16-le"
    if even > pairs * 0.3 and odd < pairs * 0.05:
        return "utf-16-be"
    return None


def _is_utf8(sample: bytes, complete: bool) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    try:
        decoder.decode(sample, final=complete)
    except UnicodeDecodeError:
        return False
    return True


def _reads_cleanly(sample: bytes, encoding: str) -> bool:
    """Decodes without control characters or symbols inside words ('P³atnoœæ')."""
    try:
        text = sample.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    controls = sum(1 for char in text if char < " " and char not in "\t\r\n")
    return not controls and _SYMBOL_IN_WORD.search(text) is None


def _plain_cp1252(sample: bytes) -> bool:
    """cp1252 reads the sample cleanly and it does not look like cp1250 text.

    'P³atnoœæ' is what cp1252 makes of Polish cp1250 ('Płatność'), 'øidiè' of Czech.
    """
    if not _reads_cleanly(sample, "cp1252"):
        return False
    text = sample.decode("cp1252")
    # cp1250 read as cp1252: Czech 'ř' -> 'ø' beside 'č' -> 'è', 'ě' -> 'ì', 'ů' -> 'ù';
    # Hungarian 'ő' -> 'õ', 'ű' -> 'û' beside 'ö', 'ü'
    czech = ("ø" in text or "Ø" in text) and any(c in text for c in "èìùòÈÌ")
    hungarian = ("õ" in text or "û" in text) and ("ö" in text or "ü" in text)
    return not (czech or hungarian)


def detect_encoding(sample: bytes, *, complete: bool) -> tuple[str, int]:
    """(codec name, BOM length) for a sample; `complete` when it is the whole file."""
    found = _bom(sample)
    if found is not None:
        return found
    if b"\x00" in sample:
        utf16 = _utf16_without_bom(sample)
        if utf16 is None:
            raise UnsupportedFormatError("the file is binary, not a text (CSV) file")
        return utf16, 0
    if _is_utf8(sample, complete):
        return "utf-8", 0
    # Words of three or more bytes >= 0xC0 are Cyrillic/Greek/... letters; Latin-script text
    # has its accented letters one at a time between ASCII letters.
    non_latin = len(_NON_LATIN_RUN.findall(sample)) > len(_LATIN_ACCENT.findall(sample))
    if not non_latin and _plain_cp1252(sample):
        # Latin-script text that cp1252 reads without absurdities is taken as cp1252: on a
        # few KB charset-normalizer ranks neighbours higher for trivial reasons (cp1250 for
        # French, 'Ł0.00' over '£0.00', mac_roman for '€'), and cp1252 is what banks use.
        return "cp1252", 0
    # charset-normalizer gives up on CR-only text (the Mint export's line endings)
    results = from_bytes(sample.replace(b"\r", b"\n"), cp_isolation=_CANDIDATES)
    best = results.best()
    if best is None:
        raise UnsupportedFormatError("the file is not text in any known encoding")
    group = [best.encoding, *best.could_be_from_charset]
    if non_latin and "cp1251" not in group:
        for match in results:
            if "cp1251" in (match.encoding, *match.could_be_from_charset) and (
                match.chaos <= best.chaos + _CHAOS_MARGIN
            ):
                return "cp1251", 0
    # best first, and within equal readings the common code page, as long as it reads
    # words as words (Polish is ranked cp1252 first on a short sample: 'P³atnoœæ')
    for match in results:
        readings = [match.encoding, *match.could_be_from_charset]
        for name in [*_PREFERRED, *readings]:
            if name in readings and _reads_cleanly(sample, name):
                return codecs.lookup(name).name, 0
    return codecs.lookup(best.encoding).name, 0


def single_byte_alternatives(sample: bytes) -> list[str]:
    """Code pages (common first) that decode the sample cleanly: the ones worth trying
    when the detected encoding yields no header (a short file whose only letters are its
    header's, where statistics cannot tell Cyrillic code pages apart)."""
    names = []
    for name in (*_PREFERRED, *_CANDIDATES):
        codec = codecs.lookup(name).name
        if codec not in names and codec != "utf-8" and _reads_cleanly(sample, codec):
            names.append(codec)
    return names


def sample_text(sample: bytes, encoding: str) -> str | None:
    """The sample decoded (a character cut at its end left out), or None if it cannot be."""
    try:
        return codecs.getincrementaldecoder(encoding)(errors="strict").decode(sample)
    except (UnicodeDecodeError, LookupError):
        return None


def explicit_encoding(name: str, sample: bytes) -> tuple[str, int]:
    """A mapping's encoding as a codec name with fixed byte order, and the BOM to skip."""
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise ParseError(
            f"unknown encoding {name[:40]!r} in the mapping", code="mapping_invalid"
        ) from None
    found = _bom(sample)
    if codec in ("utf-8", "utf-8-sig"):
        return "utf-8", len(codecs.BOM_UTF8) if sample.startswith(codecs.BOM_UTF8) else 0
    if codec in ("utf-16", "utf-32"):
        if found is not None and found[0].startswith(codec):
            return found
        return f"{codec}-le", 0
    if found is not None and found[0] == codec:
        return found
    return codec, 0


class LineSource:
    """Iterates physical lines (with their endings) decoded from `first` + the rest of `stream`.

    `lines` counts the lines handed out, so an error can name the line it is on.
    """

    def __init__(self, first: bytes, stream: BinaryIO, encoding: str) -> None:
        self._first = first
        self._stream = stream
        self.encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.lines = 0

    def _chunks(self) -> Iterator[bytes]:
        if self._first:
            yield self._first
        self._first = b""
        while True:
            chunk = self._stream.read(CHUNK_BYTES)
            if not chunk:
                return
            yield chunk

    def __iter__(self) -> Iterator[str]:
        carry = ""
        for chunk in self._chunks():
            try:
                text = self._decoder.decode(chunk, final=False)
            except UnicodeDecodeError as exc:
                yield from self._until_bad_byte(carry, exc)
                return  # pragma: no cover - _until_bad_byte always raises
            carry = yield from self._split(carry + text, final=False)
        try:
            text = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            yield from self._until_bad_byte(carry, exc)
            return  # pragma: no cover
        yield from self._split(carry + text, final=True)

    def _split(self, text: str, *, final: bool) -> Generator[str, None, str]:
        """Yield complete lines of `text`; returns the unfinished rest."""
        if not text:
            return ""
        pieces = io.StringIO(text, newline="").readlines()
        carry = ""
        if not final and not pieces[-1].endswith("\n"):
            # unterminated, or a CR that may be the start of CRLF / CR CR LF
            carry = pieces.pop()
            if carry == "\r" and pieces and pieces[-1].endswith("\r"):
                carry = pieces.pop() + carry
            if len(carry) > LINE_LIMIT:
                self._line_too_long(carry)
        if "\r\r\n" in text:
            pieces = self._merge_double_cr(pieces)
        for piece in pieces:
            if len(piece) > LINE_LIMIT:
                self._line_too_long(piece)
            self.lines += 1
            yield piece
        return carry

    @staticmethod
    def _merge_double_cr(pieces: list[str]) -> list[str]:
        merged: list[str] = []
        skip = False
        for idx, piece in enumerate(pieces):
            if skip:
                skip = False
                continue
            if piece.endswith("\r") and idx + 1 < len(pieces) and pieces[idx + 1] == "\r\n":
                merged.append(piece + "\r\n")
                skip = True
            else:
                merged.append(piece)
        return merged

    def _line_too_long(self, text: str) -> None:
        head = text[: LINE_LIMIT // 4]
        separators = sum(head.count(sep) for sep in ",;\t|")
        if separators > 1000:
            raise ParseError(
                "a line has more than 1000 columns", code="too_many_columns", line=self.lines + 1
            )
        raise ParseError(
            f"a line is longer than {LINE_LIMIT // 1024} KB (a field may hold at most 100 KB)",
            code="field_too_large",
            line=self.lines + 1,
        )

    def _until_bad_byte(self, carry: str, exc: UnicodeDecodeError) -> Iterator[str]:
        good = exc.object[: exc.start]
        text = carry + bytes(good).decode(self.encoding, errors="replace")
        yield from self._split(text, final=False)
        bad = bytes(exc.object[exc.start : exc.start + 4]).hex(" ")
        raise ParseError(
            f"the file is not valid {self.encoding} (bytes {bad}); set the encoding in the mapping",
            code="encoding_error",
            line=self.lines + 1,
        )
