"""Merge the versions that concurrent zarr writers left of one chunk, when a store commits.

zarr writes part of a chunk by reading it, changing some values and writing
it back whole. Writers of different reads in one chunk (65,536 reads share a
chunk of every attribute array) each write a version holding their own values
and, for everyone else's, what they read. The spool keeps every version, with
the version each was made from (its base, `xsz.store._lineage`), and marks
the keys whose versions fork (`Spool.forked_keys`). `merge_versions` replays
such a key's versions in order, a three-way merge per value:

- a version changed the values that differ from its base's; each such value
  goes into the merged chunk;
- a version made from nothing (a whole chunk written) changed every value;
- one made from the store underneath (or nothing, for a new array) changed
  what differs from that;
- when a version changes a value that a version it does not descend from had
  already changed to something else, two writers wrote the same read
  differently: a conflict, and `close` raises `RecordError` naming the array,
  the read and both values, committing nothing;
- a version whose base is not known (zarr's asynchronous pipeline, when reads
  of several versions were outstanding) is taken as made from the store
  underneath, and a value it leaves there while an earlier version had
  changed it is refused too: it could be a reset or a value it never saw.

The merged chunk replaces the key's versions in the spool; the commit then
reads the hierarchy as usual. Chunks are decoded and encoded with the array's
own codecs (a one-chunk copy of the array in memory), so any codec works.
Memory: the merged chunk, one int32 per value, and the decoded versions that
later versions were made from.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import zarr
from zarr.core.buffer import cpu
from zarr.core.metadata.v3 import RectilinearChunkGridMetadata, RegularChunkGridMetadata
from zarr.storage import MemoryStore

from xsz.errors import RecordError, SchemaError, XszError
from xsz.mapping import READ_DIM, SAMPLE_DIMENSION
from xsz.store._spool import UNDER, WHOLE

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    import numpy.typing as npt

    from xsz.store._spool import Spool, Version

__all__ = ["merge_versions"]

Array = zarr.Array[Any]

_FROM_WHOLE: Final = -2
_FROM_UNDER: Final = -1
_FROM_UNKNOWN: Final = -3
_SHOWN: Final = 5
"""Conflicts named in the error message (all are counted)."""


@dataclass(frozen=True, slots=True)
class _Clash:
    """Two versions of one value that cannot both be right."""

    array: str
    element: int
    earlier: object
    later: object
    unknown_base: bool


def merge_versions(
    spool: Spool,
    group: zarr.Group,
    *,
    where: str,
    value: Callable[[str], bytes | None],
    underlying: Callable[[str], bytes | None],
) -> None:
    """Merge every key of `spool` whose versions fork, or raise `RecordError`.

    `group` is the hierarchy being committed (its arrays give the codecs),
    `where` how messages name it; `value` gives a key's current bytes (spool or
    store underneath), `underlying` those of the store under the spool.
    """
    forked = spool.forked_keys()
    if not forked:
        return
    arrays = {name: node for name, node in group.members() if isinstance(node, zarr.Array)}
    chunks = _chunks_of(forked, arrays, where)
    history = spool.history([key for found in chunks.values() for _, key in found])
    clashes: list[_Clash] = []
    total = 0
    for name in sorted(chunks, key=lambda n: (n != READ_DIM, _dims(arrays[n]) != (READ_DIM,), n)):
        array = arrays[name]
        document = value(f"{name}/{_document_name(array)}")
        assert document is not None  # the array was opened from it
        codecs: dict[int, _ChunkCodec] = {}
        for index, key in sorted(chunks[name]):
            extent = _extent(array, index)
            wiped = spool.wiped_at(key)
            versions = [v for v in history[key] if v.seq > wiped]
            if extent is None or len(versions) < 2:
                continue
            start, edge = extent
            codec = codecs.get(edge) or codecs.setdefault(edge, _ChunkCodec(document, edge))
            merge = _ChunkMerge(versions, {v.token for v in history[key]}, codec, spool)
            merged = merge.run(codec.decode(underlying(key)))
            total += merge.n_clashes
            clashes += [
                _Clash(name, start + e, earlier, later, unknown)
                for e, earlier, later, unknown in merge.clashes
            ][: _SHOWN - len(clashes)]
            if merge.changed_latest:
                encoded = codec.encode(merged)
                if encoded is None:
                    spool.delete(key)
                else:
                    spool.set(key, encoded)
    if clashes:
        raise _refusal(where, arrays, clashes, total)


# --- finding the chunks ------------------------------------------------------------------


def _document_name(array: Array) -> str:
    return "zarr.json" if array.metadata.zarr_format == 3 else ".zarray"


def _dims(array: Array) -> tuple[str, ...] | None:
    metadata = array.metadata
    if metadata.zarr_format == 3:
        names = metadata.dimension_names
        return None if names is None else tuple(str(n) for n in names)
    listed = array.attrs.get("_ARRAY_DIMENSIONS")
    return tuple(str(n) for n in listed) if isinstance(listed, list) else None


def _chunks_of(
    keys: Collection[str], arrays: dict[str, Array], where: str
) -> dict[str, list[tuple[int, str]]]:
    """The forked `keys` that are chunks of 1-D arrays: array -> ``(chunk index, key)``.

    Keys of no array are left out (the commit ignores them), and so are chunks
    of arrays of more dimensions (the commit refuses those arrays).
    """
    out: dict[str, list[tuple[int, str]]] = {}
    for key in keys:
        owners = [name for name in arrays if key.startswith(f"{name}/")]
        if not owners:
            continue
        name = max(owners, key=len)
        array = arrays[name]
        if array.ndim != 1:
            continue
        suffix = key[len(name) + 1 :]
        digits = re.search(r"\d+$", suffix)
        index = int(digits[0]) if digits else -1
        if index < 0 or array.metadata.encode_chunk_key((index,)) != suffix:
            raise SchemaError(
                f"{where}: key {key!r} was written by concurrent writers, but it is no chunk "
                f"of array {name!r}, so its versions cannot be merged"
            )
        out.setdefault(name, []).append((index, key))
    return out


def _extent(array: Array, index: int) -> tuple[int, int] | None:
    """``(first element, length)`` of chunk `index` of `array`; ``None`` outside the grid."""
    metadata = array.metadata
    if metadata.zarr_format == 2:
        edge = int(metadata.chunks[0])
        start = index * edge
    elif isinstance(metadata.chunk_grid, RegularChunkGridMetadata):
        edge = int(metadata.chunk_grid.chunk_shape[0])
        start = index * edge
    elif isinstance(metadata.chunk_grid, RectilinearChunkGridMetadata):
        edges = metadata.chunk_grid.chunk_shapes[0]
        if isinstance(edges, int):
            edge, start = edges, index * edges
        elif index < len(edges):
            edge, start = edges[index], sum(edges[:index])
        else:
            return None
    else:
        return None
    return (start, edge) if start < array.shape[0] else None


class _ChunkCodec:
    """Decodes and encodes one chunk of `edge` values with an array's codecs: a copy of
    the array's document, resized to that one chunk, over a store in memory."""

    def __init__(self, document: bytes, edge: int) -> None:
        doc = json.loads(document)
        doc["shape"] = [edge]
        if doc.get("zarr_format") == 3:
            doc["chunk_grid"] = {"name": "regular", "configuration": {"chunk_shape": [edge]}}
            name = "zarr.json"
        else:
            doc["chunks"] = [edge]
            name = ".zarray"
        self._items: dict[str, Any] = {name: cpu.Buffer.from_bytes(json.dumps(doc).encode())}
        self._array = zarr.open_array(MemoryStore(self._items), mode="r+")
        self._key = self._array.metadata.encode_chunk_key((0,))

    def decode(self, data: bytes | None) -> np.ndarray[Any, Any]:
        """The values of a chunk stored as `data` (``None``: not stored, the fill value)."""
        self._items.pop(self._key, None)
        if data is not None:
            self._items[self._key] = cpu.Buffer.from_bytes(data)
        return np.asarray(self._array[:])

    def encode(self, values: np.ndarray[Any, Any]) -> bytes | None:
        """The chunk holding `values`, as zarr stores it (``None``: all fill, not stored)."""
        self._items.pop(self._key, None)
        self._array[:] = values
        found = self._items.get(self._key)
        return None if found is None else bytes(found.to_bytes())


# --- merging -----------------------------------------------------------------------------


def _differs(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> npt.NDArray[np.bool_]:
    """Where `a` and `b` hold different values (NaN is NaN; -0.0 is not 0.0)."""
    if a.dtype.kind == "f":
        same = ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))
        return np.asarray(~same, dtype=bool)
    return np.asarray(a != b, dtype=bool)


class _ChunkMerge:
    """The three-way merge of one key's versions (oldest first, none older than a wipe).

    `known` holds the tokens of every version logged, wiped ones too: a version made
    from a wiped one was made from what the wipe left, nothing.
    """

    def __init__(
        self, versions: list[Version], known: set[str], codec: _ChunkCodec, spool: Spool
    ) -> None:
        self.versions = versions
        self._decode: Callable[[Version], np.ndarray[Any, Any]] = lambda v: codec.decode(
            None if v.length < 0 else spool.read((v.seg, v.offset, v.length))
        )
        position = {v.token: i for i, v in enumerate(versions)}
        self.bases = [_base(v.base, position, known, i) for i, v in enumerate(versions)]
        self.clashes: list[tuple[int, object, object, bool]] = []
        self.n_clashes = 0
        self.changed_latest = False

    def run(self, under: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The merged values, over `under` (the chunk under the spool); clashes noted."""
        uses = Counter(b for b in self.bases if b >= 0)
        kept: dict[int, np.ndarray[Any, Any]] = {}
        state = under.copy()
        owner = np.full(len(state), -1, np.int32)  # the version that set each value
        value = state
        for i, version in enumerate(self.versions):
            value = self._decode(version)
            base = self.bases[i]
            if base == _FROM_WHOLE:
                changed = np.ones(len(state), dtype=bool)
            else:
                changed = _differs(value, kept[base] if base >= 0 else under)
                if base >= 0:
                    uses[base] -= 1
                    if not uses[base]:
                        del kept[base]
            touched = owner >= 0
            differs = _differs(value, state) & touched
            self._check(i, changed & differs, owner, state, value, unknown=False)
            if base == _FROM_UNKNOWN:  # left as underneath, after another version changed it
                self._check(i, ~changed & differs, owner, state, value, unknown=True)
            state[changed] = value[changed]
            owner[changed] = i
            if uses[i]:
                kept[i] = value
        self.changed_latest = bool(_differs(state, value).any())
        return state

    def _check(
        self,
        i: int,
        candidates: npt.NDArray[np.bool_],
        owner: npt.NDArray[np.int32],
        state: np.ndarray[Any, Any],
        value: np.ndarray[Any, Any],
        *,
        unknown: bool,
    ) -> None:
        """Note the `candidates` values that version `i` changes against a version it
        does not descend from (all of them, for a base not known)."""
        if not candidates.any():
            return
        for other in np.unique(owner[candidates]).tolist():
            if not unknown and self._descends(i, other):
                continue
            found = np.flatnonzero(candidates & (owner == other))
            self.n_clashes += len(found)
            for e in found[: _SHOWN - len(self.clashes)].tolist():
                self.clashes.append((e, state[e], value[e], unknown))

    def _descends(self, i: int, other: int) -> bool:
        """Whether version `i` was made, through its bases, from version `other` (< i)."""
        at = i
        while True:
            base = self.bases[at]
            if base == _FROM_WHOLE:  # written whole: made after everything before it
                return other < at
            if base < 0 or base < other:
                return False
            if base == other:
                return True
            at = base


def _base(token: str, position: dict[str, int], known: set[str], i: int) -> int:
    """Where the base of version `i` is: an earlier version's position, or a `_FROM_*`."""
    if token == WHOLE:
        return _FROM_WHOLE
    found = position.get(token)
    if found is not None and found < i:
        return found
    if token == UNDER or (found is None and token in known):  # wiped: nothing underneath
        return _FROM_UNDER
    return _FROM_UNKNOWN


# --- the error ---------------------------------------------------------------------------


def _show(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_of(arrays: dict[str, Array], clash: _Clash, ids_known: bool) -> tuple[str, object]:
    """How to name the read of `clash` in a message, and its ID (else row) for the error."""
    dims = _dims(arrays[clash.array])
    row: int | None = None
    where = f"element {clash.element}"
    lookup_failed = (XszError, ValueError, IndexError, KeyError, TypeError, StopIteration)
    if dims == (READ_DIM,):
        row, where = clash.element, f"read {clash.element}"
    elif dims:  # a sample dimension: the read is found through its count array
        try:
            counts = next(a for a in arrays.values() if a.attrs.get(SAMPLE_DIMENSION) == dims[0])
            starts = np.cumsum(np.asarray(counts[:], dtype=np.int64))
            row = int(np.searchsorted(starts, clash.element, "right"))
            where = f"sample {clash.element} (read {row})"
        except lookup_failed:
            pass
    if row is None or not ids_known or READ_DIM not in arrays:
        return where, row
    try:
        read_id = np.asarray(arrays[READ_DIM][row]).item()
    except lookup_failed:
        return where, row
    return f"{where} ({read_id!r})", read_id


def _refusal(
    where: str, arrays: dict[str, Array], clashes: list[_Clash], total: int
) -> RecordError:
    ids_known = all(c.array != READ_DIM for c in clashes)
    named = []
    first_id: object = None
    for clash in clashes:
        read, read_id = _read_of(arrays, clash, ids_known)
        first_id = read_id if first_id is None else first_id
        later = _show(clash.later) + (" (unknown base)" if clash.unknown_base else "")
        named.append(f"array {clash.array!r}, {read}: {_show(clash.earlier)}, then {later}")
    more = f"; and {total - len(named)} more" if total > len(named) else ""
    unknown = (
        ". A write with an unknown base came through zarr's asynchronous codec pipeline, "
        "which hides the version it read: SZStore cannot tell whether it reset the value "
        "or never saw it (zarr's fused codec pipeline, xsz's default, keeps track)"
        if any(c.unknown_base for c in clashes)
        else ""
    )
    return RecordError(
        f"{where}: concurrent writers wrote different values of the same reads, so nothing "
        f"was committed: {'; '.join(named)}{more}{unknown}",
        read_id=first_id,
        field=clashes[0].array,
    )
