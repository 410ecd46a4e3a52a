"""The one way XML is parsed here: streaming, with every dangerous libxml2 feature off.

Uploads come from anyone, so the parser must not be a way to read local files (XXE), reach
the network (external DTDs, schema locations), or burn memory and CPU (entity expansion,
deep nesting, huge text nodes). The defences, in order:

1. A DOCTYPE is refused before lxml sees it: bank statements never need one, and refusing
   it is simpler and safer than trusting entity handling. The bytes are scanned as they are
   read (UTF-8/ASCII and both UTF-16 byte orders) until the root element starts; the parsed
   `docinfo` is checked as well, for encodings the byte scan cannot see.
2. lxml runs with `resolve_entities=False, no_network=True, load_dtd=False,
   huge_tree=False`, so even a DOCTYPE that got past (1) is never loaded or expanded, and
   libxml2 keeps its own hard limits (10 MB text node, 256 levels) on everything it parses.
3. Our own, tighter limits: nesting depth (`MAX_DEPTH`) and text-node size
   (`MAX_TEXT_CHARS`).

Two event granularities, same limits:

- `tags=None`: every element's start and end, each checked as it arrives. Simple, and the
  right choice for small documents.
- `tags=("Ntry", ...)`: only the end of elements with those local names (any namespace),
  filtered inside libxml2. Python then touches a few elements per entry instead of every
  one, which is what makes a million-entry statement affordable. Each yielded element's
  subtree is checked (depth, text size) by XPath in C before it is yielded; an element that
  is never yielded is checked before `release()` throws it away, or when the document ends.

Nothing here reads a whole upload: lxml pulls fixed-size chunks through `_PrologGuard`.
Callers get `(event, element)` pairs and `release()` what they have processed, which is
what keeps memory flat (see `camt053.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any, BinaryIO, Final, Literal, cast

from lxml import etree

from reconciliation.parsers.types import ParseError

MAX_DEPTH: Final = 64
MAX_TEXT_CHARS: Final = 1_000_000
CHUNK_SIZE: Final = 64 * 1024
_MAX_MESSAGE: Final = 200

Event = Literal["start", "end"]

_PARSER_OPTIONS: Final[dict[str, Any]] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}

_DOCTYPE: Final = "<!doctype"
# Lower-cased before matching, so `<!DOCTYPE` and any odd casing are caught in each encoding.
_DOCTYPE_PATTERNS: Final = (
    _DOCTYPE.encode("ascii"),
    _DOCTYPE.encode("utf-16-le"),
    _DOCTYPE.encode("utf-16-be"),
)
_OVERLAP: Final = max(len(p) for p in _DOCTYPE_PATTERNS) - 1


def _doctype_error() -> ParseError:
    return ParseError(
        "XML with a DOCTYPE (DTD or entity declarations) is not accepted",
        code="xml_doctype_forbidden",
    )


def _too_deep(max_depth: int, line: int | None) -> ParseError:
    return ParseError(f"XML nested deeper than {max_depth} levels", code="xml_too_deep", line=line)


def _too_long(max_text: int, line: int | None) -> ParseError:
    return ParseError(
        f"XML text node longer than {max_text:,} characters", code="xml_text_too_long", line=line
    )


class _PrologGuard:
    """File-like wrapper that refuses a DOCTYPE in the bytes before the root element.

    Raising from `read()` is safe: lxml stops parsing and re-raises our exception, so the
    DTD is never handed to libxml2.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._tail = b""
        self.scanning = True

    def read(self, size: int = -1) -> bytes:
        # Bounded reads whatever lxml asks for: a huge request must not pull the upload in.
        chunk = self._raw.read(size if 0 < size <= CHUNK_SIZE else CHUNK_SIZE)
        if not isinstance(chunk, bytes):
            raise ParseError("the upload must be read as bytes", code="xml_malformed")
        if self.scanning and chunk:
            window = (self._tail + chunk).lower()
            if any(pattern in window for pattern in _DOCTYPE_PATTERNS):
                raise _doctype_error()
            self._tail = window[-_OVERLAP:]
        return chunk


def _syntax_error(exc: etree.LxmlError) -> ParseError:
    """ParseError from lxml's exception, preferring the first libxml2 error of its log.

    With `resolve_entities=False` lxml's own message can be a generic "no element found"
    (line 0) while the log holds the real cause ("Entity 'x' not defined") and its line.
    """
    message: str = str(getattr(exc, "msg", None) or exc)
    line = getattr(exc, "lineno", None)
    if not (isinstance(line, int) and line > 0):
        # lxml's log is per thread and kept across parses; it is cleared when ours starts.
        for entry in getattr(exc, "error_log", None) or ():
            message, line = entry.message, entry.line
            break
    message = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return ParseError(
        f"malformed XML: {message[:_MAX_MESSAGE]}",
        code="xml_malformed",
        line=line if isinstance(line, int) and line > 0 else None,
    )


def _check_doctype(element: etree._Element) -> None:
    if element.getroottree().docinfo.doctype:
        raise _doctype_error()


def _levels_below(levels: int) -> str:
    """XPath true when the context element has a descendant `levels` deeper."""
    return "boolean(" + "/".join(["*"] * levels) + ")"


def _text_longer_than(max_text: int) -> str:
    return f"boolean(descendant-or-self::text()[string-length() > {max_text}])"


@cache
def _limit_checks(levels: int, max_text: int) -> tuple[etree.XPath, etree.XPath, etree.XPath]:
    deep = _levels_below(levels)
    # The common case (nothing wrong) in one cheap evaluation of two necessary conditions:
    # a descendant `levels` deeper needs at least `levels` descendants (the positional
    # predicate stops counting there), and a text node over the limit makes the string
    # value of the whole subtree longer than it. Walking `levels` steps down and measuring
    # every text node on its own cost three times as much, and every entry pays for it;
    # they only run when a condition holds, to tell a real problem from a false alarm.
    # The string value is built in memory, but it is at most the text the tree already
    # holds (a single entry, normally), which the upload limit bounds anyway.
    quick = etree.XPath(
        f"(boolean(descendant::*[{levels}]) and {deep}) or string-length() > {max_text}"
    )
    return quick, etree.XPath(deep), etree.XPath(_text_longer_than(max_text))


def _check_subtree(element: etree._Element, depth: int, max_depth: int, max_text: int) -> None:
    """Limits for `element` (at `depth`, root = 1) and everything below it, evaluated in C."""
    levels = max_depth - depth + 1
    if levels <= 0:
        raise _too_deep(max_depth, element.sourceline)
    quick, too_deep, too_long = _limit_checks(levels, max_text)
    if quick(element):
        if too_deep(element):
            raise _too_deep(max_depth, element.sourceline)
        if too_long(element):
            raise _too_long(max_text, element.sourceline)


def _all_events(
    guard: _PrologGuard, max_depth: int, max_text: int
) -> Iterator[tuple[Event, etree._Element]]:
    etree.clear_error_log()
    parser_events = etree.iterparse(guard, events=("start", "end"), **_PARSER_OPTIONS)
    depth = 0
    try:
        for event, element in parser_events:
            if event == "start":
                depth += 1
                if depth > max_depth:
                    raise _too_deep(max_depth, element.sourceline)
                if guard.scanning:
                    guard.scanning = False
                    _check_doctype(element)
                # The previous sibling's tail is complete once the next tag has started;
                # checked here because the caller may clear() that sibling at its end.
                previous = element.getprevious()
                if previous is not None:
                    tail = previous.tail
                    if tail is not None and len(tail) > max_text:
                        raise _too_long(max_text, element.sourceline)
            else:
                depth -= 1
                text = element.text
                if text is not None and len(text) > max_text:
                    raise _too_long(max_text, element.sourceline)
                if len(element):
                    tail = element[-1].tail
                    if tail is not None and len(tail) > max_text:
                        raise _too_long(max_text, element.sourceline)
            yield event, element
    except etree.LxmlError as exc:
        raise _syntax_error(exc) from None


class XmlEvents:
    """`(event, element)` pairs with the limits enforced, plus `release()` to free memory.

    Iterate once. After processing an element, `release(element)` clears it and unlinks
    every earlier sibling; in `tags` mode, a sibling that was never yielded (and so never
    checked) is checked before it is thrown away, so nothing escapes the limits.
    """

    def __init__(
        self, stream: BinaryIO, tags: Sequence[str] | None, max_depth: int, max_text: int
    ) -> None:
        self._guard = _PrologGuard(stream)
        self._tags = None if tags is None else frozenset(tags)
        self._max_depth = max_depth
        self._max_text = max_text
        # Siblings share a parent and therefore a depth: ancestors are counted once per parent.
        self._last_parent: etree._Element | None = None
        self._last_depth = 1

    def __iter__(self) -> Iterator[tuple[Event, etree._Element]]:
        if self._tags is None:
            return _all_events(self._guard, self._max_depth, self._max_text)
        return self._tagged_events(self._tags)

    def _depth(self, element: etree._Element) -> int:
        parent = element.getparent()
        if parent is None:
            return 1
        if parent is not self._last_parent:
            self._last_parent = parent
            self._last_depth = 2 + sum(1 for _ in parent.iterancestors())
        return self._last_depth

    def _tagged_events(self, tags: frozenset[str]) -> Iterator[tuple[Event, etree._Element]]:
        guard = self._guard
        etree.clear_error_log()
        parser_events = etree.iterparse(
            guard, events=("end",), tag=[f"{{*}}{tag}" for tag in tags], **_PARSER_OPTIONS
        )
        try:
            for _event, element in parser_events:
                if guard.scanning:
                    guard.scanning = False
                    _check_doctype(element)
                _check_subtree(element, self._depth(element), self._max_depth, self._max_text)
                yield "end", element
            root = parser_events.root
            if root is not None:
                # Whatever the caller neither saw nor released is checked at the end.
                _check_subtree(root, 1, self._max_depth, self._max_text)
        except etree.LxmlError as exc:
            raise _syntax_error(exc) from None

    def release(self, element: etree._Element) -> None:
        # The tail stays until the element itself is unlinked by a later release: it may
        # still be growing, and clearing it would let a huge text node slip through in
        # pieces.
        element.clear(keep_tail=True)
        parent = element.getparent()
        if parent is None:
            return
        tags, max_text = self._tags, self._max_text
        depth = self._depth(element) if tags is not None else 0
        while element.getprevious() is not None:
            first = parent[0]
            tail = first.tail
            if tail is not None and len(tail) > max_text:
                raise _too_long(max_text, first.sourceline)
            if tags is not None:
                # Parsed elements' tags are str (lxml types them as anything assignable).
                tag = cast(str, first.tag)
                if tag[tag.rfind("}") + 1 :] not in tags:
                    _check_subtree(first, depth, self._max_depth, max_text)
            del parent[0]


def iterparse_safe(
    stream: BinaryIO,
    *,
    tags: Sequence[str] | None = None,
    max_depth: int = MAX_DEPTH,
    max_text: int = MAX_TEXT_CHARS,
) -> XmlEvents:
    """Stream `(event, element)` pairs from a binary XML stream (see the module docstring).

    `tags` are local names (any namespace matches). Comments and processing instructions
    are dropped, so every element's `tag` is a str (`{namespace}Local` or `Local`). Raises
    ParseError (codes `xml_doctype_forbidden`, `xml_too_deep`, `xml_text_too_long`,
    `xml_malformed`) and nothing else for bad input.
    """
    return XmlEvents(stream, tags, max_depth, max_text)
