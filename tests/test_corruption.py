"""Damaged stores, read through every face: a clear xsz error or the right values, never worse.

Three small stores (3 reads, one of them without ``Move`` values) are written by
xsz: ``checksummed`` (the default: zstd's content checksum in every frame and a
``checksums`` file), ``plain`` (``checksum=False``: frames as pysz writes them,
still with the ``checksums`` file) and ``pysz`` (``plain`` without its
``checksums`` file: what pysz writes). Each kind of damage (changed bytes of
``dat``, of ``index`` and of ``checksums``, truncations, edited index cells of
every kind, edited header and column lines, deleted files) is applied to a copy,
which is then read through every face: `CompressedFile` (one read at a time and
all at once), `SZReader` (by read and by dataset), ``xr.open_dataset(engine="sz")``
(numpy and ``chunks={}``), `SZStore` through ``zarr.open_group``, `to_zarr` and a
read of its result, and `xsz.ops.verify`. Each face's values are compared with
what the same face shows for the undamaged store.

What must hold:

- every face gives its values, or an `xsz.errors` exception: no other exception,
  no crash, no hang, no MemoryError, on any store;
- ``checksummed``: never a wrong value, and `verify` reports every damage;
- ``plain``: the same, except that a changed byte of ``dat`` may decode to wrong
  samples (the frames carry no checksum, and reads do not check the
  ``checksums`` file); `verify` reports it and `to_zarr` refuses to copy it;
- ``pysz``: nothing can tell some changes (an attribute cell, a header value, a
  payload byte that still decodes): the fraction of damage read back as wrong
  values is measured and bounded below (`UNDETECTED`);
- on every store, damage that a read (`SZReader.read`) refuses is read as wrong
  values by no face, `to_zarr` refuses to copy it, and `verify` reports it. (A
  face may still read the right values: the engine and SZStore never decode
  the frame of a read without values, which SZReader decodes.)

Deleting the ``checksums`` file of a store turns it into a pysz store whose
values are intact: faces read them, and `verify` has nothing to report.

CI runs a dense sample (every byte of the first read's frames and of an empty
frame, random bytes elsewhere, every truncation at a frame or line boundary); the zarr faces, the
slowest, run on every sixth damage. ``XSZ_CORRUPTION_FULL=1`` runs every
byte, mask and face (a few minutes).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path  # noqa: TC003 - pytest's fixtures annotate with it
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import xarray as xr
import zarr

from tests.conftest import SCHEMA_ATTRS, SCHEMA_DATASETS, make_reads
from xsz import SZStore
from xsz.api import CompressedFile
from xsz.codec import compress
from xsz.convert import to_zarr
from xsz.errors import CodecError, SchemaError, SZFormatError, XszError
from xsz.format import Schema, SZReader, SZWriter
from xsz.ops import verify

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FULL = bool(os.environ.get("XSZ_CORRUPTION_FULL"))
SCHEMA = Schema.build(SCHEMA_ATTRS, SCHEMA_DATASETS)
VARIANTS = ("checksummed", "plain", "pysz")
HANG_SECONDS = 30
SLOW_EVERY = 1 if FULL else 6
"""The zarr faces (the slowest) see every this-many-th damage."""


def write_store(path: Path, variant: str) -> Path:
    reads = make_reads(3, seed=7, length=40)
    reads[2] = (*reads[2][:5], np.zeros(0, dtype=np.uint16))  # a read without Move values
    with SZWriter(path, SCHEMA, checksum=variant == "checksummed") as w:
        w.put_many(reads)
    if variant == "pysz":
        (path / "checksums").unlink()
    return path


# --- the faces: each returns what it shows of the store, as plain values ------------------


def plain(value: Any) -> Any:
    """`value` as nested lists, tuples and scalars, dtypes kept, for comparison."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return [plain(v) for v in value.tolist()]
        return (value.dtype.str, value.tolist())
    if isinstance(value, np.generic):
        return (value.dtype.str, value.item())
    return value


def cf_each(path: Path) -> Any:
    with CompressedFile(path) as f:
        return [f.get(i)._asdict() for i in range(len(f))]


def cf_all(path: Path) -> Any:
    with CompressedFile(path, n_threads=2) as f:
        return [r._asdict() for r in f.get(slice(None))]


def reader_reads(path: Path) -> Any:
    with SZReader(path) as r:
        return [r.read(i) for i in range(len(r))]


def reader_datasets(path: Path) -> Any:
    with SZReader(path) as r:
        out: dict[str, Any] = {f.name: r.dataset(f.name) for f in r.schema.datasets}
        out[""] = [r.attributes(i) for i in range(len(r))]
        return out


def _dataset(ds: xr.Dataset) -> Any:
    ds = ds.load()
    return {k: v.values for k, v in ds.variables.items()} | {"": dict(ds.attrs)}


def engine(path: Path) -> Any:
    with xr.open_dataset(path, engine="sz") as ds:
        return _dataset(ds)


def engine_dask(path: Path) -> Any:
    with xr.open_dataset(path, engine="sz", chunks={}) as ds:
        return _dataset(ds)


def _group(group: zarr.Group) -> Any:
    return {k: a[:] for k, a in group.arrays()} | {"": dict(group.attrs)}


def szstore(path: Path) -> Any:
    with SZStore(path) as store:
        return _group(zarr.open_group(store, mode="r"))


class CopiedDamage(AssertionError):
    """`to_zarr` copied a store into a Zarr store that fails to read."""


def zarr_copy(path: Path) -> Any:
    out = path.with_name(path.name + ".zarr")
    shutil.rmtree(out, ignore_errors=True)
    try:
        to_zarr(path, out)
        try:
            return _group(zarr.open_group(out, mode="r"))
        except XszError as exc:
            raise CopiedDamage(f"to_zarr copied damage: {exc}") from exc
    finally:
        shutil.rmtree(out, ignore_errors=True)


def verify_face(path: Path) -> Any:
    return [str(p) for p in verify(path, n_threads=1)]


FACES: dict[str, Callable[[Path], Any]] = {
    "cf_each": cf_each,
    "cf_all": cf_all,
    "reader_reads": reader_reads,
    "reader_datasets": reader_datasets,
    "engine": engine,
    "engine_dask": engine_dask,
    "szstore": szstore,
    "zarr_copy": zarr_copy,
    "verify": verify_face,
}
SLOW = ("engine_dask", "szstore", "zarr_copy")
READ_FACES = tuple(f for f in FACES if f != "verify")


class Hang(BaseException):
    pass


def _alarm(*_: object) -> None:
    raise Hang(f"no answer in {HANG_SECONDS} s")


def outcome(face: str, path: Path, clean: Any) -> tuple[str, str]:
    """``ok`` (the clean store's values), ``wrong`` (other values), ``error`` (an
    xsz error) or ``crash`` (anything else); `verify`: ``detected`` or ``clean``."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        got = FACES[face](path)
    except XszError as exc:
        return ("error" if face != "verify" else "crash"), f"{type(exc).__name__}: {exc}"
    except BaseException as exc:  # what the matrix is looking for
        return "crash", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()[-1500:]}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if face == "verify":
        return ("detected", got[0]) if got else ("clean", "")
    return ("ok" if plain(got) == clean else "wrong"), ""


@dataclass(frozen=True)
class Store:
    variant: str
    path: Path
    clean: dict[str, Any]
    files: dict[str, bytes]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Store]:
    out = {}
    for variant in VARIANTS:
        path = write_store(tmp_path_factory.mktemp(variant) / "reads.sz", variant)
        clean = {face: plain(FACES[face](path)) for face in READ_FACES}
        assert verify(path) == []
        files = {p.name: p.read_bytes() for p in path.iterdir()}
        out[variant] = Store(variant, path, clean, files)
    return out


# --- damage ------------------------------------------------------------------------------

Damage = tuple[str, "Callable[[Path], None]"]


def flip(name: str, position: int, mask: int) -> Damage:
    def apply(path: Path) -> None:
        data = bytearray((path / name).read_bytes())
        data[position] ^= mask
        (path / name).write_bytes(bytes(data))

    return f"{name}[{position}] ^= {mask:#04x}", apply


def truncate(name: str, size: int) -> Damage:
    def apply(path: Path) -> None:
        with open(path / name, "r+b") as fh:
            fh.truncate(size)

    return f"{name} cut to {size} bytes", apply


def delete(name: str) -> Damage:
    def apply(path: Path) -> None:
        (path / name).unlink()

    return f"{name} deleted", apply


def set_line(number: int, text: bytes) -> Damage:
    def apply(path: Path) -> None:
        lines = (path / "index").read_bytes().split(b"\n")
        lines[number] = text
        (path / "index").write_bytes(b"\n".join(lines))

    return f"index line {number + 1} = {text[:50]!r}", apply


def set_cell(row: int, column: int, text: bytes) -> Damage:
    def apply(path: Path) -> None:
        lines = (path / "index").read_bytes().split(b"\n")
        cells = lines[2 + row].split(b"\t")
        cells[column] = text
        lines[2 + row] = b"\t".join(cells)
        (path / "index").write_bytes(b"\n".join(lines))

    return f"index row {row} column {column} = {text[:40]!r}", apply


def _frame_bounds(store: Store) -> tuple[list[int], list[tuple[int, int]]]:
    """Every frame boundary in dat; the frames of read 0 and of read 2's empty Move
    frame as ``(start, stop)``."""
    with SZReader(store.path) as r:
        offsets = [r.index.frame_offset[f.name] for f in r.schema.datasets]
        sizes = [r.index.frame_size[f.name] for f in r.schema.datasets]
    bounds = sorted({int(o[i]) for o in offsets for i in range(3)} | {len(store.files["dat"])})
    dense = [(int(o[0]), int(o[0] + s[0])) for o, s in zip(offsets, sizes, strict=True)]
    dense.append((int(offsets[2][2]), int(offsets[2][2] + sizes[2][2])))
    return bounds, dense


def dat_flips(store: Store) -> Iterator[Damage]:
    dat = store.files["dat"]
    if FULL:
        for position in range(len(dat)):
            for mask in (0xFF, 0x01, 0x80):
                yield flip("dat", position, mask)
        return
    _, first = _frame_bounds(store)
    dense = {p for a, b in first for p in range(a, b)}
    for position in sorted(dense):  # every byte of read 0's frames and of an empty one
        yield flip("dat", position, 0xFF)
    rng = np.random.default_rng(1)
    rest = [p for p in range(len(dat)) if p not in dense]
    for position in rng.choice(rest, 16, replace=False).tolist():
        yield flip("dat", position, int(rng.choice([0x01, 0x80, 0x10, 0xFF])))


def truncations(store: Store) -> Iterator[Damage]:
    bounds, _ = _frame_bounds(store)
    dat, index = store.files["dat"], store.files["index"]
    at = set(range(len(dat))) if FULL else {0, *range(3, len(dat), 17)}
    at |= {b + d for b in bounds for d in (-1, 0, 1) if 0 <= b + d < len(dat)}
    for size in sorted(at):
        yield truncate("dat", size)
    ends = [i + 1 for i, c in enumerate(index) if c == ord("\n")]
    at = set(range(len(index))) if FULL else {0, 1, *range(5, len(index), 17)}
    at |= {e + d for e in ends for d in (-2, -1, 0) if 0 <= e + d < len(index)}
    for size in sorted(at):
        yield truncate("index", size)


def index_flips(store: Store) -> Iterator[Damage]:
    index = store.files["index"]
    if FULL:
        for position in range(len(index)):
            for mask in (0x01, 0x20, 0x80):
                yield flip("index", position, mask)
        return
    rng = np.random.default_rng(2)
    for position in rng.choice(len(index), 40, replace=False).tolist():
        yield flip("index", position, int(rng.choice([0x01, 0x02, 0x20, 0x80])))


COLUMNS = [b"LENGTH", b"OFFSET", b"ID:A:S", b"Offset:A:I32", b"Raw_unit:A:F32"]
COLUMNS += [b"Raw:D:I16", b"Fastq:D:S", b"Move:D:U16"]


def _columns(k: int, new: bytes) -> bytes:
    cells = list(COLUMNS)
    cells[k] = new
    return b"\t".join(cells)


def cell_edits(store: Store) -> Iterator[Damage]:
    lines = store.files["index"].split(b"\n")
    cells = lines[3].split(b"\t")  # row 1
    size, count = (int(v) for v in cells[5].split(b":"))
    move_size, move_count = (int(v) for v in cells[7].split(b":"))
    edits = {
        0: [b"0", str(size + 999).encode(), b"-1", b"x", b"", b"9" * 30],  # LENGTH
        1: [b"0", b"1", b"-1", b"1.5", b"", str(2**62).encode(), b"9" * 30],  # OFFSET
        2: [b"read_00009", b"read_00000", b"", b"read\x0000001", b"\xff\xfe"],  # ID
        3: [b"1", b"-1", b"2147483648", b"9" * 25, b"x", b"", b"1.0"],  # int attribute
        4: [b"0.5", b"nan", b"inf", b"1e999", b"x", b"", b"-0"],  # float attribute
        5: [  # Raw SIZE:COUNT
            f"{size}:0".encode(),
            f"{size}:{count + 1}".encode(),
            f"{size}:{count - 1}".encode(),
            f"{size}:99999999".encode(),
            f"{size}:{2**63 - 1}".encode(),
            f"{size + 1}:{count}".encode(),
            f"{size - 1}:{count}".encode(),
            f"{size}".encode(),
            f"{size}:{count}:1".encode(),
            b":",
            f"{size}:-1".encode(),
        ],
        6: [b"0:", b"5:", b"14:3", b"99999:", b"-1:"],  # Fastq SIZE:
        7: [  # Move SIZE:COUNT
            f"{move_size}:0".encode(),
            f"{move_size}:{move_count + 1}".encode(),
            f"{move_size}:{move_count - 1}".encode(),
            f"{move_size}:4294967295".encode(),
        ],
    }
    for column, values in edits.items():
        for value in values:
            yield set_cell(1, column, value)


def header_edits(store: Store) -> Iterator[Damage]:
    for text in [b'#{"version": "0.5.0"}', b"#{", b"", b"#[]", b"{}", b"#" + b"[" * 100]:
        yield set_line(0, text)
    for k, new in [
        (5, b"Raw:D:I32"),
        (5, b"Raw:D:U16"),
        (5, b"Raw:D:F32"),
        (5, b"Raw:D:S"),
        (7, b"Move:D:I16"),
        (7, b"Move:D:U32"),
        (7, b"Move:D:F16"),
        (3, b"Offset:A:I16"),
        (4, b"Raw_unit:A:F64"),
        (2, b"ID:A:I32"),
        (6, b"Fastq:A:S"),
        (4, b"Raw-unit:A:F32"),  # not a Python identifier
    ]:
        yield set_line(1, _columns(k, new))
    yield set_line(1, b"\t".join(COLUMNS[:7]))  # a dataset fewer
    yield set_line(1, b"")
    yield set_line(2, b"")  # the first read's row gone
    yield set_line(4, b"\t".join([b"1"] * 8))  # a row more


def write_file(name: str, data: bytes, what: str) -> Damage:
    def apply(path: Path) -> None:
        (path / name).write_bytes(data)

    return f"{name} replaced by {what}", apply


def checksums_damage(store: Store) -> Iterator[Damage]:
    yield write_file("checksums", b"", "nothing")
    yield write_file("checksums", b'{"xsz_checksums": 1}\t00000000\n', "a wrong head")
    if "checksums" not in store.files:  # another store's
        other = write_store(store.path.parent / "other.sz", "checksummed")
        yield write_file("checksums", (other / "checksums").read_bytes(), "another store's")
        return
    data = store.files["checksums"]
    yield delete("checksums")
    step = 1 if FULL else 5
    for position in range(0, len(data), step):
        yield flip("checksums", position, 0x01)
    for size in range(0, len(data), 1 if FULL else 11):
        yield truncate("checksums", size)


def lost_files(store: Store) -> Iterator[Damage]:
    yield delete("dat")
    yield delete("index")
    yield truncate("dat", 0)
    yield truncate("index", 0)


KINDS: dict[str, Callable[[Store], Iterator[Damage]]] = {
    "dat flips": dat_flips,
    "truncations": truncations,
    "index flips": index_flips,
    "index cells": cell_edits,
    "header and columns": header_edits,
    "checksums file": checksums_damage,
    "lost files": lost_files,
}

UNDETECTED: dict[str, float] = {
    # Of the damage done to the pysz store, the fraction SZReader reads back as wrong
    # values (measured on the CI sample, zstandard 0.25): nothing can tell these
    # without checksums. A payload byte that still decodes (dat); a truncated index
    # that loses its last rows (verify reports the bytes of dat no read uses); an
    # attribute cell, ID, type code or header value that still parses. The full run
    # (XSZ_CORRUPTION_FULL=1: every byte of dat and index with 3 masks, every
    # truncation) measured 608 of 1029 dat flips (59%), 12 of 589 truncations (2%)
    # and 146 of 738 index flips (20%) read back wrong; on the checksummed store 0.
    "dat flips": 97 / 163,
    "truncations": 7 / 76,
    "index flips": 10 / 40,
    "index cells": 11 / 52,
    "header and columns": 8 / 22,
    "checksums file": 0.0,
    "lost files": 0.0,
}


# --- the matrix ---------------------------------------------------------------------------


def run_damage(store: Store, work: Path, apply: Callable[[Path], None], slow: bool) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(store.path, work)
    apply(work)
    results = {}
    for face in FACES:
        if face in SLOW and not slow:
            continue
        results[face] = outcome(face, work, store.clean.get(face))
    return results


def judge(store: Store, kind: str, label: str, results: dict) -> list[str]:
    """What is wrong with `results`, the outcomes of one damage (empty: all allowed)."""
    bad = [f"{face}: {detail}" for face, (o, detail) in results.items() if o == "crash"]
    read = {face: o for face, (o, _) in results.items() if face != "verify"}
    verdict = results["verify"][0]
    if label == "checksums deleted":  # a pysz store now, its values intact
        bad += [f"{face}: {o}" for face, o in read.items() if o != "ok"]
    elif store.variant == "checksummed" or (store.variant == "plain" and kind != "dat flips"):
        bad += [f"{face}: wrong values" for face, o in read.items() if o == "wrong"]
        if verdict != "detected":
            bad.append("verify: no problem found")
    elif store.variant == "plain":  # dat changed: verify and to_zarr have the CRCs
        if verdict != "detected":
            bad.append("verify: no problem found")
        if "zarr_copy" in read and read["zarr_copy"] != "error":
            bad.append(f"zarr_copy: {read['zarr_copy']}: copied a frame its CRC refuses")
    if read["reader_reads"] == "error":  # damage a read refuses: to_zarr never copies it
        bad += [
            f"{face}: wrong values where reads fail" for face, o in read.items() if o == "wrong"
        ]
        if read.get("zarr_copy", "error") != "error":
            bad.append(f"zarr_copy: {read['zarr_copy']}: copied a store reads refuse")
        if verdict != "detected":
            bad.append("verify: no problem found where reads fail")
    return bad


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("variant", VARIANTS)
def test_corruption_matrix(stores, tmp_path, variant, kind):
    store = stores[variant]
    tally: Counter[str] = Counter()
    failures = []
    n = 0
    for k, (label, apply) in enumerate(KINDS[kind](store)):
        results = run_damage(store, tmp_path / "damaged.sz", apply, slow=k % SLOW_EVERY == 0)
        n += 1
        tally.update(o for o, _ in [results["reader_reads"]])
        failures += [f"{label}: {problem}" for problem in judge(store, kind, label, results)]
    assert n, f"no damage of kind {kind!r} for the {variant} store"
    assert not failures, f"{len(failures)} of {n} damages:\n" + "\n".join(failures[:20])
    if variant == "pysz":
        wrong = tally["wrong"] / n
        print(f"{kind}: {tally['wrong']} of {n} read back wrong ({wrong:.0%})")
        bound = UNDETECTED[kind]
        assert FULL or wrong <= bound, f"{kind}: {wrong:.1%} undetected, bound {bound:.1%}"


PARSER_CASES = [
    set_line(0, b"#" + b"[" * 100_000),  # RecursionError in json
    set_cell(1, 1, str(2**63 - 1).encode()),  # OFFSET + LENGTH overflows int64
]


@pytest.mark.parametrize("case", range(len(PARSER_CASES)))
@pytest.mark.parametrize(
    "variant",
    [
        "checksummed",  # the index CRC refuses the index before it is parsed
        "plain",
        "pysz",
    ],
)
def test_corruption_index_parser_cases(stores, tmp_path, variant, case):
    """Damage that the index parser (xsz/format/_index.py) must refuse with an xsz error."""
    store = stores[variant]
    label, apply = PARSER_CASES[case]
    results = run_damage(store, tmp_path / "damaged.sz", apply, slow=True)
    problems = judge(store, "index cells", label, results)
    assert not problems, "\n".join(problems)


# --- the faults the matrix found, one test each ---------------------------------------------


@pytest.fixture
def pysz_store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "reads.sz", "pysz")


def _edit_count(path: Path, row: int, dataset: str, new: int) -> None:
    column = [c.split(b":")[0] for c in COLUMNS].index(dataset.encode())
    lines = (path / "index").read_bytes().split(b"\n")
    cells = lines[2 + row].split(b"\t")
    size = cells[column].split(b":")[0]
    cells[column] = size + b":" + str(new).encode()
    lines[2 + row] = b"\t".join(cells)
    (path / "index").write_bytes(b"\n".join(lines))


@pytest.mark.parametrize("face", [*READ_FACES, "verify"])
@pytest.mark.parametrize(
    ("dataset", "change"), [("Raw", "0"), ("Raw", "+1"), ("Move", "-1"), ("Move", "huge")]
)
def test_corruption_edited_count_is_refused_by_every_face_naming_it(
    pysz_store, dataset, change, face
):
    """A count cell edited to 0 dropped the read's samples silently in the engine,
    SZStore and to_zarr; a count off by one was copied by to_zarr into a Zarr store
    that failed on read. Every face now raises, naming the read, dataset and count."""
    with SZReader(pysz_store) as r:
        count = int(r.index.count[dataset][1])
    new = {"0": 0, "+1": count + 1, "-1": count - 1, "huge": 99_999_999}[change]
    _edit_count(pysz_store, 1, dataset, new)
    if face == "verify":
        (problem,) = verify(pysz_store)
        message = str(problem)
    else:
        with pytest.raises(XszError) as caught:
            FACES[face](pysz_store)
        message = str(caught.value)
    assert "'read_00001'" in message
    assert f"dataset {dataset!r}" in message
    assert f"{new} values" in message


def _flip_payload(path: Path, dataset: str, row: int, back: int = 6) -> None:
    """Change a byte of a frame's payload (`back` bytes before its end)."""
    with SZReader(path) as r:
        end = int(r.index.frame_offset[dataset][row] + r.index.frame_size[dataset][row])
    data = bytearray((path / "dat").read_bytes())
    data[end - back] ^= 0x01
    (path / "dat").write_bytes(bytes(data))


@pytest.mark.parametrize("variant", ["checksummed", "plain"])
def test_corruption_to_zarr_checks_every_frame_against_its_crc(tmp_path, variant):
    """to_zarr copied a frame with a changed payload byte (its header is intact):
    into a Zarr store that failed on read (checksummed) or read wrong samples (plain)."""
    path = write_store(tmp_path / "reads.sz", variant)
    _flip_payload(path, "Raw", 1)
    with pytest.raises(SZFormatError, match=r"'Raw/c/1' is read 'read_00001'.*CRC-32"):
        to_zarr(path, tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists()


def test_corruption_to_zarr_checks_the_frames_of_reads_without_values(pysz_store, tmp_path):
    """A read without Move values has no Move chunk, so to_zarr never looked at its
    frame: a damaged one was skipped where SZReader refuses the read."""
    _flip_payload(pysz_store, "Move", 2, back=4)  # the empty frame's content size: 0 -> 1
    with pytest.raises(XszError):
        SZReader(pysz_store).read(2)
    with pytest.raises(SZFormatError, match=r"read 'read_00002'.*dataset 'Move'"):
        to_zarr(pysz_store, tmp_path / "out.zarr")


def test_corruption_to_zarr_copies_the_store_it_opened(tmp_path):
    """to_zarr read dat by path: a store replaced after its index was read gave the
    old index with the new dat. It reads through the reader's directory handle."""
    from xsz.convert._sinks import DirectorySink
    from xsz.convert._zarr_reads import copy_reads

    path = write_store(tmp_path / "reads.sz", "checksummed")
    with SZReader(path) as reader:
        expected = reader.dataset("Raw")
        with SZWriter(path, SCHEMA, overwrite=True) as w:  # another store at the path
            w.put_many(make_reads(3, seed=8, length=40))
        sink = DirectorySink(tmp_path / "out.zarr")
        copy_reads(reader, sink, progress=lambda n: None)
        sink.close()
    raw = zarr.open_group(tmp_path / "out.zarr", mode="r")["Raw"][:]
    assert raw.tolist() == np.concatenate(expected).tolist()


def test_corruption_verify_checks_every_frame_against_its_crc(tmp_path):
    """A plain store (no zstd checksums) with a changed payload byte that still
    decodes: verify said OK, though the checksums file has every frame's CRC-32."""
    path = write_store(tmp_path / "reads.sz", "plain")
    with SZReader(path) as r:
        before = r.read(1)["Raw"]
    _flip_payload(path, "Raw", 1)
    with SZReader(path) as r:
        assert r.read(1)["Raw"].tolist() != before.tolist()  # wrong, undetectable on read
    (problem,) = verify(path)
    assert problem.row == 1
    assert re.search(
        r"dataset 'Raw', dat\[\d+:\d+\]: the frame does not match its CRC-32", str(problem)
    )


def test_corruption_verify_checks_the_checksums_file_itself(tmp_path):
    path = write_store(tmp_path / "reads.sz", "checksummed")
    data = bytearray((path / "checksums").read_bytes())
    data[-1] ^= 0x01  # the last frame's CRC
    (path / "checksums").write_bytes(bytes(data))
    (problem,) = verify(path)
    assert "checksums: the frame CRCs do not match their own CRC-32" in str(problem)


def test_corruption_szstore_refuses_a_text_frame_that_is_not_utf8(tmp_path):
    """SZStore handed a text frame's bytes over unchecked where SZReader refuses them."""
    path = tmp_path / "reads.sz"
    schema = Schema.build([("ID", str)], [("Fastq", str)])
    with SZWriter(path, schema) as w:
        w.put_frames(["r0"], [compress(b"ACGT", checksum=True)], [None])
        w.put_frames(["r1"], [compress(b"AC\xffGT", checksum=True)], [None])
    with pytest.raises(XszError, match="not valid UTF-8"):
        SZReader(path).read(1)
    with SZStore(path) as store:
        array = zarr.open_group(store, mode="r")["Fastq"]
        assert array[0] == b"ACGT"
        with pytest.raises(CodecError, match=r"'Fastq/c/1' is read 'r1'.*not valid UTF-8"):
            array[1]


@pytest.mark.parametrize("mode", ["r", "w"])
def test_corruption_compressedfile_refuses_names_a_record_cannot_take(tmp_path, mode):
    """A column name that is no Python identifier (an edited index) crashed
    CompressedFile with namedtuple's ValueError, leaving the store open."""
    path = tmp_path / "reads.sz"
    attributes = [("ID", str), ("Raw-unit", np.float32)]
    if mode == "r":
        with SZWriter(path, Schema.build(attributes, [("Raw", np.int16)])) as w:
            w.put("r0", 0.5, np.arange(3, dtype=np.int16))
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(SchemaError, match="'Raw-unit'"):
        CompressedFile(path, mode=mode, attributes=attributes, datasets=[("Raw", np.int16)])
    assert len(os.listdir("/proc/self/fd")) == fds  # nothing left open
    assert not any(tmp_path.iterdir()) or mode == "r"  # nothing written


def test_corruption_szstore_checks_a_frame_header_against_the_count_both_ways(pysz_store):
    """SZStore compared a frame's content size with the most its count allows only."""
    with SZReader(pysz_store) as r:
        count = int(r.index.count["Raw"][1])
    _edit_count(pysz_store, 1, "Raw", count + count // 4)  # more values than the bytes hold
    with SZStore(pysz_store) as store, pytest.raises(SZFormatError, match=r"'Raw/c/1'.*claims"):
        store.get_sync("Raw/c/1")
