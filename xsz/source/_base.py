"""`ByteSource`: what the container needs from wherever a store's files live."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from xsz.errors import TruncatedStoreError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ByteSource"]


class ByteSource(ABC):
    """The files of one SZ store (``index``, ``dat``, optional ``checksums``), by range.

    A source shows one version of the store for its whole life: the files it
    reads belong together even if the store is replaced meanwhile. Sources are
    thread-safe. They pickle by location; the copy opens the store again.
    """

    location: str
    """The path or URL, for messages."""
    concurrent: bool = False
    """Whether `read_ranges` fetches its ranges concurrently (worth one call per batch)."""
    gap: int = 1 << 16
    """Bytes between two wanted ranges worth reading through rather than asking for
    the second range apart."""

    @abstractmethod
    def size(self, name: str) -> int | None:
        """The size of file `name` in bytes, or ``None`` if the store has no such file."""

    @abstractmethod
    def _read(self, name: str, offset: int, size: int) -> bytes:
        """Up to `size` bytes of `name` from `offset` (fewer only at its end)."""

    def read(self, name: str, offset: int = 0, size: int | None = None) -> bytes:
        """The bytes ``name[offset:offset + size]`` (to the end when `size` is ``None``).

        Raises `TruncatedStoreError` when the file ends before them.
        """
        total = self.size(name)
        if total is None:
            raise TruncatedStoreError(f"{self.location}: the store has no {name!r} file")
        if size is None:
            size = max(total - offset, 0)
        data = self._read(name, offset, size) if size else b""
        if len(data) != size:
            raise TruncatedStoreError(
                f"{self.location}/{name} is truncated: wanted bytes {offset}..{offset + size}, "
                f"the file ends at {offset + len(data)}"
            )
        return data

    def read_ranges(self, name: str, starts: Sequence[int], stops: Sequence[int]) -> list[bytes]:
        """The bytes ``name[starts[i]:stops[i]]`` for every i (ranges as given, not coalesced)."""
        return [self.read(name, a, b - a) for a, b in zip(starts, stops, strict=True)]

    def stamp(self) -> tuple[object, ...]:
        """What identifies this version of the store (compared to notice a replaced store)."""
        return (self.size("index"), self.size("dat"))

    @abstractmethod
    def close(self) -> None:
        """Release what the source holds; idempotent. Reads afterwards raise ``ValueError``."""

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
