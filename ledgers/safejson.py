"""JSON from clients with a nesting limit (stdlib only).

Python's decoder recurses once per nesting level, so 2 KB of `[[[[...` used to end in a
RecursionError (a 500) on every JSON route, the token route and the upload's `mapping`
field. Real payloads here are at most four levels deep (a list of GL entries, a CSV
mapping with a list of description columns); anything deeper than MAX_DEPTH is refused
as malformed, whether the decoder gave up on it or not.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

MAX_DEPTH: Final = 32


class JSONTooDeep(ValueError):
    """The document nests arrays/objects deeper than allowed (a ValueError, like bad JSON)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"JSON nested deeper than {limit} levels")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Decode `text` with numbers as exact Decimals; ValueError for anything unusable.

    NaN/Infinity are refused (they are not JSON, and not money); so is nesting deeper than
    `max_depth`.
    """
    import json

    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        raise JSONTooDeep(max_depth) from None
    if depth_exceeds(value, max_depth):
        raise JSONTooDeep(max_depth)
    return value


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit`; iterative, so any depth is safe to walk."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
