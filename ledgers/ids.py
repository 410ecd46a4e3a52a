"""Primary keys: time-ordered UUIDs (version 7, RFC 9562).

A random (version 4) key sends every insert to a random leaf of the primary-key index:
a million-row import or auto-match pass then touches every page of an index larger than
the buffer cache, over and over. Version 7 keys start with the creation time in
milliseconds, so the rows of one import or pass land next to each other at the right
edge of the index, and the index stays compact. They are still 122-bit unique (74 random
bits per millisecond) and sort by creation time; the time they reveal is the row's
`created_at`, which the API shows anyway.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

_VERSION_7 = 0x7000
_VARIANT = 0x80


def _v7_bytes(ms: int, tail: bytes) -> bytes:
    """16 bytes: 48-bit ms timestamp, version 7, 12 random bits, variant, 62 random bits."""
    rand_a = ((tail[0] << 8 | tail[1]) & 0x0FFF) | _VERSION_7
    return (
        ms.to_bytes(6, "big")
        + rand_a.to_bytes(2, "big")
        + bytes(((tail[2] & 0x3F) | _VARIANT,))
        + tail[3:10]
    )


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=_v7_bytes(time.time_ns() // 1_000_000, os.urandom(10)))


# byte -> byte with the version (7) or the variant (0b10) bits set: bytes.translate applies
# them to a whole column of ids at C speed.
_SET_VERSION = bytes((b & 0x0F) | 0x70 for b in range(256))
_SET_VARIANT = bytes((b & 0x3F) | _VARIANT for b in range(256))


def raw_id_stream(chunk: int = 4096) -> Iterator[bytes]:
    """Endless version-7 UUIDs as 16 raw bytes, for bulk COPY: randomness drawn from the
    OS once per chunk, and each chunk sorted so consecutive rows are consecutive keys."""
    while True:
        prefix = (time.time_ns() // 1_000_000).to_bytes(6, "big")
        pool = bytearray(os.urandom(16 * chunk))
        for position, byte in enumerate(prefix):
            pool[position::16] = bytes((byte,)) * chunk
        pool[6::16] = bytes(pool[6::16]).translate(_SET_VERSION)
        pool[8::16] = bytes(pool[8::16]).translate(_SET_VARIANT)
        data = bytes(pool)
        yield from sorted(data[start : start + 16] for start in range(0, len(data), 16))


def hex_id_stream(chunk: int = 4096) -> Iterator[str]:
    """`raw_id_stream` as 32 hex digits (COPY text format)."""
    for raw in raw_id_stream(chunk):
        yield raw.hex()
