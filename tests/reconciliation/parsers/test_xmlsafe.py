"""xmlsafe: the one XML entry point refuses DTDs, deep nesting and huge text, streams."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.parsers.types import ParseError
from reconciliation.parsers.xmlsafe import CHUNK_SIZE, MAX_DEPTH, MAX_TEXT_CHARS, iterparse_safe
from tests.reconciliation.parsers.counting import CountingReader

MODES = [pytest.param(None, id="all-events"), pytest.param(("b",), id="tagged")]
PASSWD = Path("/etc/passwd")
# Legal after the root element, and four chunks long: a refusal that comes early stops
# reading well before the end of it.
AFTER = b"<!--" + b"." * (4 * CHUNK_SIZE) + b"-->"


def drain(
    data: bytes | CountingReader, tags: tuple[str, ...] | None = None, seen: list[str] | None = None
) -> list[tuple[str, str]]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    events = iterparse_safe(stream, tags=tags)
    found: list[tuple[str, str]] = []
    for event, element in events:
        found.append((event, str(element.tag)))
        if seen is not None:
            seen.append(event)
        if event == "end":
            events.release(element)
    return found


def refused(
    data: bytes,
    tags: tuple[str, ...] | None = None,
    *,
    within: int | None = None,
    events: int | None = None,
) -> ParseError:
    """The ParseError for `data`, refused after bounded work (not measured in seconds).

    The upload is read at most once; with `within` (the offset where the problem is
    complete), no further than the chunk after it; with `events`, at most that many
    elements were handed out before the refusal.
    """
    stream = CountingReader(data)
    seen: list[str] = []
    with pytest.raises(ParseError) as caught:
        drain(stream, tags, seen)
    limit = len(data) if within is None else min(len(data), within + CHUNK_SIZE)
    assert stream.bytes_read <= limit, f"read {stream.bytes_read:,} bytes, allowed {limit:,}"
    if events is not None:
        assert len(seen) <= events
    return caught.value


def nested(depth: int, *, inner: str = "") -> bytes:
    return ("<a>" * depth + inner + "</a>" * depth).encode()


def test_all_events_arrive_in_document_order() -> None:
    data = b'<?xml version="1.0"?><r xmlns="urn:x"><!-- c --><b>1</b><?pi x?><c><b/></c></r>'
    assert drain(data) == [
        ("start", "{urn:x}r"),
        ("start", "{urn:x}b"),
        ("end", "{urn:x}b"),
        ("start", "{urn:x}c"),
        ("start", "{urn:x}b"),
        ("end", "{urn:x}b"),
        ("end", "{urn:x}c"),
        ("end", "{urn:x}r"),
    ]


def test_tags_mode_reports_only_the_ends_of_those_elements_in_any_namespace() -> None:
    data = b'<r xmlns="urn:x"><b>1</b><c><b/><n:b xmlns:n="urn:y"/></c><b/></r>'
    assert drain(data, ("b",)) == [
        ("end", "{urn:x}b"),
        ("end", "{urn:x}b"),
        ("end", "{urn:y}b"),
        ("end", "{urn:x}b"),
    ]


def test_release_frees_the_element_and_everything_before_it() -> None:
    events = iterparse_safe(io.BytesIO(b"<r><x/><b>1</b><b>2</b><b>3</b></r>"), tags=("b",))
    for _event, element in events:
        events.release(element)
        parent = element.getparent()
        assert parent is not None
        assert parent[0] is element  # earlier siblings are gone
        assert element.text is None  # cleared


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE r [<!ENTITY a "x"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
        '<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>',
        '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/r.dtd">',
        '<!DOCTYPE r PUBLIC "-//X//DTD X//EN" "file:///etc/passwd">',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
        "<!doctype r>",
        "<!DocType r>",
    ],
)
@pytest.mark.parametrize("tags", MODES)
def test_any_doctype_is_refused(doctype: str, tags: tuple[str, ...] | None) -> None:
    data = f'<?xml version="1.0"?>\n{doctype}\n<r><b>&x;</b></r>'.encode() + AFTER
    # Refused in the first chunk, before lxml built a single element.
    error = refused(data, tags, within=data.index(b"<r>"), events=0)
    assert error.code == "xml_doctype_forbidden"
    if PASSWD.exists():
        assert not any(line and line in str(error) for line in PASSWD.read_text().splitlines())


@pytest.mark.parametrize("offset", [CHUNK_SIZE - 5, CHUNK_SIZE - 1, CHUNK_SIZE, 3 * CHUNK_SIZE + 2])
def test_a_doctype_split_across_read_chunks_is_still_seen(offset: int) -> None:
    padding = b"<!--" + b"x" * (offset - 4 - len(b"-->")) + b"-->"
    data = padding + b'<!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>' + AFTER
    assert refused(data, within=data.index(b"<r>"), events=0).code == "xml_doctype_forbidden"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_doctype_in_utf16_is_refused(encoding: str) -> None:
    doctype = '<!DOCTYPE r [<!ENTITY x "y">]>'
    data = (doctype + "<r>&x;</r>" + AFTER.decode()).encode(encoding)
    error = refused(data, within=len(doctype.encode(encoding)), events=0)
    assert error.code in {"xml_doctype_forbidden", "xml_malformed"}


@pytest.mark.parametrize("tags", MODES)
def test_nesting_up_to_the_limit_is_fine_and_beyond_it_is_refused(
    tags: tuple[str, ...] | None,
) -> None:
    drain(nested(MAX_DEPTH - 1, inner="<b/>"), tags)
    data = nested(MAX_DEPTH, inner="<b/>")
    assert refused(data, tags, events=MAX_DEPTH).code == "xml_too_deep"


@pytest.mark.parametrize("tags", MODES)
def test_200_levels_are_refused_at_the_limit_without_reading_on(
    tags: tuple[str, ...] | None,
) -> None:
    data = nested(200, inner="<b/>") + AFTER
    # At most the MAX_DEPTH starts above the limit are handed out, and nothing is read
    # beyond the chunk that holds the level past it.
    error = refused(data, tags, within=3 * (MAX_DEPTH + 1), events=MAX_DEPTH)
    assert error.code == "xml_too_deep"


def test_deep_nesting_in_an_element_the_caller_never_sees_is_refused() -> None:
    data = b"<r><junk>" + nested(100) + b"</junk><b/></r>"
    # Only the <b/> after it is handed out: releasing it checks the junk on its way out.
    assert refused(data, ("b",), events=1).code == "xml_too_deep"


def test_deep_nesting_released_unseen_is_refused_before_it_is_thrown_away() -> None:
    data = b"<r><junk>" + nested(100) + b"</junk><b/><b/>" + b"</r>"
    events = iterparse_safe(io.BytesIO(data), tags=("b",))
    _event, first = next(iter(events))
    with pytest.raises(ParseError) as caught:
        events.release(first)  # the junk before it is checked on its way out
    assert caught.value.code == "xml_too_deep"


@pytest.mark.parametrize("tags", MODES)
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"<r><b>" + b"x" * (MAX_TEXT_CHARS + 1) + b"</b></r>", id="text"),
        pytest.param(b"<r><b/>" + b" " * (MAX_TEXT_CHARS + 1) + b"<b/></r>", id="tail"),
        pytest.param(b"<r><b><c/>" + b"y" * (MAX_TEXT_CHARS + 1) + b"</b></r>", id="last-tail"),
    ],
)
def test_text_nodes_over_the_limit_are_refused(data: bytes, tags: tuple[str, ...] | None) -> None:
    # Refused by the end of the document at the latest, long before the end of AFTER.
    error = refused(data + AFTER, tags, within=len(data))
    assert error.code == "xml_text_too_long"
    assert "xxxx" not in str(error)


@pytest.mark.parametrize("tags", MODES)
def test_a_10_mb_text_node_is_refused(tags: tuple[str, ...] | None) -> None:
    data = b"<r><b>" + b"x" * 10_500_000 + b"</b></r>"
    # Not the whole node: libxml2 gives up at its 10 MB cap at the latest, and ours is lower.
    error = refused(data + AFTER, tags, within=10 * 1024 * 1024)
    assert error.code in {"xml_text_too_long", "xml_malformed"}


def test_text_exactly_at_the_limit_is_fine() -> None:
    drain(b"<r><b>" + b"x" * MAX_TEXT_CHARS + b"</b></r>")


# In tags mode a subtree is first checked against cheap necessary conditions (as many
# descendants as levels allowed, as much text in total as one node may hold); these make
# sure such a false alarm is told apart from a real problem.


def test_a_wide_shallow_subtree_is_not_mistaken_for_a_deep_one() -> None:
    wide = b"<b>" + b"<c><d/></c>" * MAX_DEPTH + b"</b>"
    assert drain(b"<r>" + wide * 2 + b"</r>", ("b",)) == [("end", "b"), ("end", "b")]


def test_deep_nesting_under_many_siblings_is_refused() -> None:
    wide = b"<c/>" * MAX_DEPTH
    data = b"<r><b>" + wide + nested(MAX_DEPTH) + wide + b"</b></r>"
    assert refused(data, ("b",), events=0).code == "xml_too_deep"


def test_text_adding_up_past_the_limit_in_small_nodes_is_fine() -> None:
    half = b"<c>" + b"x" * (MAX_TEXT_CHARS // 2 + 1) + b"</c>"
    data = b"<r><b>" + half * 3 + b"</b><b/></r>"
    assert drain(data, ("b",)) == [("end", "b"), ("end", "b")]


def test_one_long_text_node_among_short_ones_is_refused() -> None:
    data = b"<r><b><c>x</c>" + b"y" * (MAX_TEXT_CHARS + 1) + b"<c>z</c></b></r>"
    error = refused(data + AFTER, ("b",), within=data.rindex(b"y") + 1, events=0)
    assert error.code == "xml_text_too_long"


@pytest.mark.parametrize("tags", MODES)
@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"<r>\n<b>\n</r>", 3),
        (b"<r>\n<b>1</b>\n", 3),
        (b"<r><b>&undefined;</b></r>", 1),
        (b"<r>\n\n<b a='1' a='2'/></r>", 3),
        (b"", None),
        (b"not xml at all", 1),
        (b'<?xml version="1.0" encoding="UTF-8"?><r>\xff\xfe</r>', 1),
        (b"<r></r><r></r>", 1),
    ],
)
def test_malformed_xml_is_a_parse_error_with_the_line(
    data: bytes, line: int | None, tags: tuple[str, ...] | None
) -> None:
    error = refused(data, tags)
    assert error.code == "xml_malformed"
    assert error.line == line


class GuardedStream:
    """A stream that fails the test if anyone tries to read it in one go."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.sizes: list[int] = []

    def read(self, size: int = -1) -> bytes:
        assert 0 < size <= CHUNK_SIZE, f"unbounded read({size})"
        self.sizes.append(size)
        return self._data.read(size)


@pytest.mark.parametrize("tags", MODES)
def test_the_stream_is_only_ever_read_in_bounded_chunks(tags: tuple[str, ...] | None) -> None:
    body = b"".join(b"<b>%d</b>" % n for n in range(100_000))
    stream = GuardedStream(b"<r>" + body + b"</r>")
    events = iterparse_safe(stream, tags=tags)  # type: ignore[arg-type]
    count = 0
    for event, element in events:
        if event == "end" and element.tag == "b":
            count += 1
            events.release(element)
    assert count == 100_000
    assert len(stream.sizes) > 10


def test_a_text_stream_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        list(iterparse_safe(io.StringIO("<r/>")))  # type: ignore[arg-type]


def test_utf16_with_a_bom_is_read() -> None:
    data = '<?xml version="1.0" encoding="UTF-16"?><r><b>Zürich</b></r>'.encode("utf-16")
    texts = [e.text for ev, e in iterparse_safe(io.BytesIO(data)) if ev == "end" and e.tag == "b"]
    assert texts == ["Zürich"]


def read_once(data: bytes, tags: tuple[str, ...] | None = None) -> None:
    """Parse `data` to the end or a ParseError, reading each byte of it at most once."""
    stream = CountingReader(data)
    with contextlib.suppress(ParseError):
        drain(stream, tags)
    assert stream.bytes_read <= len(data)


@settings(deadline=None)
@given(data=st.binary(max_size=2048), tagged=st.booleans())
def test_arbitrary_bytes_raise_nothing_but_parse_error(data: bytes, tagged: bool) -> None:
    read_once(data, ("b",) if tagged else None)


@settings(deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(list("<>/!?&;=\"' abr[]-%#x\n")), min_size=0, max_size=300
    )
)
def test_arbitrary_markup_raises_nothing_but_parse_error(text: str) -> None:
    read_once(text.encode())
