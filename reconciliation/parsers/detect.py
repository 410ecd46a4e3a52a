"""Which parser an upload needs, decided from its first few KB, never from its name.

camt.053 is XML whose namespace or root structure says so (also inside a `<message>`
envelope carrying an AppHdr before the Document); any other XML is refused, as are PDFs,
archives, other binaries and empty files; every other text is handed to the CSV parser,
which reports a precise error if it is not CSV after all. Pure and fast: a few byte scans
over at most `HEAD_BYTES`.
"""

from __future__ import annotations

import codecs
import re
from typing import Final

from reconciliation.parsers.types import FileFormat, UnsupportedFormatError

HEAD_BYTES: Final = 8 * 1024

_CAMT053_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:camt.053."
# A camt.053 without (or with an unusual) namespace is still recognisable by its message
# element, prefixed or not.
_CAMT053_ROOT: Final = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?BkToCstmrStmt[\s/>]")
_MARKUP_START: Final = re.compile(r"<(?:\?xml|!--|!DOCTYPE|!doctype|[A-Za-z_])")

_MAGIC: Final = (
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a zip archive (or an Excel/Office file)"),
    (b"PK\x05\x06", "a zip archive"),
    (b"PK\x07\x08", "a zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (e.g. .xls)"),
    (b"BZh", "a bzip2 archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
)
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls (and DEL) that text files do not contain; tab, newlines, form feed, EOF
# (Ctrl-Z) and ESC do turn up in real exports.
_BINARY_CONTROLS: Final = frozenset(
    chr(code) for code in (*range(0x20), 0x7F) if chr(code) not in "\t\n\r\x0b\x0c\x1a\x1b"
)
_MAX_CONTROL_RATIO: Final = 0.05


def _utf16_without_bom(head: bytes) -> str | None:
    """`utf-16-le`/`-be` when NULs sit on one byte parity only (UTF-16 text without a BOM).

    Binary data has NULs at both parities; single-byte text has none at all.
    """
    sample = head[: len(head) - len(head) % 2]
    half = len(sample) // 2
    if half < 2:
        return None
    even_zeros = sample[0::2].count(0)
    odd_zeros = sample[1::2].count(0)
    if odd_zeros >= half * 0.3 and even_zeros <= half * 0.02:
        return "utf-16-le"
    if even_zeros >= half * 0.3 and odd_zeros <= half * 0.02:
        return "utf-16-be"
    return None


def _decode_head(head: bytes) -> str:
    """The head as text; raises UnsupportedFormatError when it is binary, not text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormatError(f"the file is {what}, not a bank statement")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            text = head[len(bom) :].decode(encoding, errors="replace")
            break
    else:
        encoding = _utf16_without_bom(head) or "latin-1"
        # Latin-1 never fails, and only ASCII decides the format.
        text = head.decode(encoding, errors="replace")
    controls = sum(1 for char in text if char in _BINARY_CONTROLS)
    if "\x00" in text or controls > len(text) * _MAX_CONTROL_RATIO:
        raise UnsupportedFormatError("the file is binary, not a text bank statement")
    return text


def detect_format(head: bytes) -> FileFormat:
    """`"camt.053"` or `"csv"` for the first bytes of an upload (pass `HEAD_BYTES` or more).

    Raises UnsupportedFormatError (an API 415) for empty or whitespace-only files, PDFs,
    archives, images, other binary data and XML that is not camt.053.
    """
    text = _decode_head(head[:HEAD_BYTES])
    stripped = text.lstrip("\ufeff \t\r\n\x0b\x0c")
    if not stripped.strip():
        raise UnsupportedFormatError("the file is empty")
    if _MARKUP_START.match(stripped):
        if _CAMT053_NAMESPACE in stripped or _CAMT053_ROOT.search(stripped):
            return "camt.053"
        if stripped[:200].lower().lstrip("<!").startswith(("doctype html", "html")):
            raise UnsupportedFormatError("the file is an HTML page, not a bank statement")
        raise UnsupportedFormatError("XML that is not camt.053 (no camt.053 namespace or root)")
    return "csv"
