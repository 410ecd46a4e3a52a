"""A stream that counts what a parser takes from it: how the hostile-input tests show that a
refusal came early, without reading (or building) the whole upload.

Work, not time: a wall-clock bound flakes on a loaded machine, while "refused within the
first chunks" holds anywhere. How fast a parser is belongs to `manage.py benchmark`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Buffer  # collections.abc.Buffer from Python 3.12 on


class CountingReader(io.BytesIO):
    """An in-memory upload that records every byte and every read a parser makes.

    `bytes_read` counts bytes handed out (a byte read twice, after a seek back, counts twice:
    that is work too); `largest_read` is the biggest single read.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.size = len(data)
        self.bytes_read = 0
        self.reads = 0
        self.largest_read = 0

    def _count(self, n: int) -> None:
        self.bytes_read += n
        self.reads += 1
        self.largest_read = max(self.largest_read, n)

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._count(len(chunk))
        return chunk

    def read1(self, size: int | None = -1) -> bytes:
        chunk = super().read1(size)
        self._count(len(chunk))
        return chunk

    def readinto(self, buffer: Buffer) -> int:
        n = super().readinto(buffer)
        self._count(n)
        return n

    def readinto1(self, buffer: Buffer) -> int:
        n = super().readinto1(buffer)
        self._count(n)
        return n

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        self._count(len(line))
        return line

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines = super().readlines(hint)
        self._count(sum(len(line) for line in lines))
        return lines

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def getvalue(self) -> bytes:
        raise AssertionError("a parser must read the upload, not take its whole buffer")

    def getbuffer(self) -> memoryview:
        raise AssertionError("a parser must read the upload, not take its whole buffer")
