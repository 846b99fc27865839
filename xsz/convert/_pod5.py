"""Reads of a pod5 file, through the ``pod5`` package's own reader.

Per-read fields come from the read table a batch at a time (Arrow columns to
Python lists, not one property lookup per field per read). `Pod5Source.reads`
has each signal decoded by ``pod5`` itself (`ReadRecord.signal`), one read at a
time; `Pod5Source.blocks` (what an import uses) takes the VBZ chunks as the
file stores them and makes the index cells column by column, so that a block
of reads is encoded without a Python object per read (`xsz.convert._blocks`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

import numpy as np

from xsz.convert._blocks import Block, block_sizes, kernels, uuid_texts
from xsz.convert._extras import load
from xsz.convert._read_fields import (
    POD5_READ_FIELDS,
    UNKNOWN_END_REASON,
    SourceRead,
    import_schema,
    run_info,
)
from xsz.convert._read_fields import pore_type as as_pore_type
from xsz.errors import SourceError
from xsz.format import attribute_text

if TYPE_CHECKING:
    from collections.abc import Iterator
    from collections.abc import Set as AbstractSet
    from pathlib import Path

BLOCK_SAMPLES = 1 << 21
"""Samples in a block of reads (`Pod5Source.blocks`): what one encoding task takes."""

__all__ = ["Pod5Source"]

_EXTRA: Final = tuple(
    name for name, _, _ in POD5_READ_FIELDS if name not in ("pore_type", "end_reason_forced")
)
"""The numeric columns of pod5's read table kept as they are (`POD5_READ_FIELDS`)."""


def _number(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


def _floats(column: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A numeric pod5 column as float64, NaN where it holds no value: `_number` of
    each value, without a Python object each."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _ints_or_minus_one(column: Any) -> list[int]:
    """A boolean or integer pod5 column as ints, -1 where it holds no value."""
    if column.null_count:
        return [-1 if v is None else int(v) for v in column.to_pylist()]
    return column.to_numpy(zero_copy_only=False).astype(np.int64).tolist()  # type: ignore[no-any-return]


def _pore_types(column: Any) -> list[str]:
    """`as_pore_type` of each value of pod5's pore type column, each distinct value
    converted once when the column is a dictionary (as pod5 writes it)."""
    if not hasattr(column, "dictionary") or column.null_count:
        return [as_pore_type(v) for v in column.to_pylist()]
    names = [as_pore_type(v) for v in column.dictionary.to_pylist()]
    return [names[k] for k in column.indices.to_numpy(zero_copy_only=False).tolist()]


def _reprs(values: np.ndarray[Any, np.dtype[np.float64]]) -> list[str]:
    """``repr`` of each value (the index text of an F64 from a Python float), each
    distinct value formatted once when values repeat (calibrations, median levels)."""
    if len(values) < 64:
        return list(map(repr, values.tolist()))
    # distinct bit patterns, not values: -0.0 and 0.0 print differently
    bits, where = np.unique(np.ascontiguousarray(values).view(np.int64), return_inverse=True)
    if len(bits) > len(values) // 2:
        return list(map(repr, values.tolist()))
    texts = list(map(repr, bits.view(np.float64).tolist()))
    return [texts[k] for k in where.tolist()]


def _distinct_cells(f: Any, values: list[Any], ids: list[str]) -> list[str]:
    """`attribute_text` of each value (hashable, compared by ``==``: ints, str),
    each distinct value formatted once (errors name the first read holding it)."""
    texts: dict[Any, str] = {}
    out = []
    for value, read_id in zip(values, ids, strict=True):
        text = texts.get(value)
        if text is None:
            text = texts[value] = attribute_text(f, value, read_id)
        out.append(text)
    return out


def _float_cells(
    f: Any, values: np.ndarray[Any, np.dtype[np.float64]], ids: list[str]
) -> list[str]:
    """`attribute_text` of each float of `values` (NaN for none), each distinct bit
    pattern formatted once (-0.0 and 0.0 print differently)."""
    if not len(values):
        return []
    bits, first, where = np.unique(
        np.ascontiguousarray(values).view(np.int64), return_index=True, return_inverse=True
    )
    texts = [
        attribute_text(f, v, ids[i])
        for v, i in zip(bits.view(np.float64).tolist(), first.tolist(), strict=True)
    ]
    return [texts[k] for k in where.reshape(-1).tolist()]


class Pod5Source:
    """One pod5 file, open for reading.

    Parameters
    ----------
    path
        The pod5 file.
    """

    format = "pod5"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._reader = load("pod5", "reading pod5 files").Reader(path)
            self._runs = self._read_runs()
        except SourceError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise SourceError(f"{path}: pod5 cannot read this file: {exc}") from exc

    def close(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()
            self._reader = None

    def _read_runs(self) -> dict[str, dict[str, Any]]:
        table = self._reader.run_info_table
        runs: dict[str, dict[str, Any]] = {}
        for k in range(table.num_record_batches):
            for row in table.get_batch(k).to_pylist():
                tracking = dict(row.pop("tracking_id") or ())
                context = dict(row.pop("context_tags") or ())
                runs[row["acquisition_id"]] = run_info(
                    tracking_id=tracking, context_tags=context, **row
                )
        return runs

    def runs(self) -> dict[str, dict[str, Any]]:
        """Run metadata by acquisition ID (pod5's run info table)."""
        return self._runs

    def read_ids(self) -> list[str]:
        """Every read ID, in file order."""
        return [str(r) for r in self._reader.read_ids]

    def count(self) -> int:
        return int(self._reader.num_reads)

    def reads(self, selection: frozenset[str] | None = None) -> Iterator[SourceRead]:
        """The reads in file order (only those in `selection` when given)."""
        digitisation: dict[str, float] = {}
        for run_id, info in self._runs.items():
            try:
                digitisation[run_id] = float(info["adc_max"] - info["adc_min"] + 1)
            except (KeyError, TypeError):
                digitisation[run_id] = math.nan
        for batch in self._reader.read_batches():
            cols = batch.columns
            ids = [str(UUID(bytes=b)) for b in cols.read_id.to_pylist()]
            wanted = [r for r, i in enumerate(ids) if selection is None or i in selection]
            if not wanted:
                continue
            channel = cols.channel_32bit.to_pylist()
            well = cols.well.to_pylist()
            read_number = cols.read_number.to_pylist()
            start = cols.start.to_pylist()
            median_before = cols.median_before.to_pylist()
            offset = cols.calibration_offset.to_pylist()
            scale = cols.calibration_scale.to_pylist()
            end_reason = cols.end_reason.to_pylist()
            run = cols.run_info.to_pylist()
            extra = {
                name: getattr(cols, name).to_pylist() for name in _EXTRA if hasattr(cols, name)
            }
            pores = cols.pore_type.to_pylist()
            forced = cols.end_reason_forced.to_pylist()
            for r in wanted:
                run_id = run[r]
                meta = self._runs.get(run_id)
                if meta is None:
                    raise SourceError(
                        f"{self.path}: read {ids[r]!r} names run {run_id!r}, which the run "
                        "info table lacks"
                    )
                dig = digitisation[run_id]
                yield SourceRead(
                    read_id=ids[r],
                    signal=batch.get_read(r).signal,
                    offset=offset[r],
                    scale=scale[r],
                    range=scale[r] * dig,
                    digitisation=dig,
                    sampling_rate=float(meta.get("sample_rate", math.nan)),
                    channel=channel[r],
                    well=well[r],
                    read_number=read_number[r],
                    start_sample=float(start[r]),
                    median_before=median_before[r],
                    end_reason=end_reason[r] or "unknown",
                    run_id=run_id,
                    pore_type=as_pore_type(pores[r]),
                    end_reason_forced=-1 if forced[r] is None else int(forced[r]),
                    **{name: _number(values[r]) for name, values in extra.items()},
                )

    # --- blocks: the reads without a Python object each --------------------------------

    def can_block(self) -> bool:
        """Whether `blocks` can read this file (VBZ signal, and the C kernels built)."""
        return kernels() is not None and bool(self._reader.is_vbz_compressed)

    def blocks(
        self, selection: frozenset[str] | None = None, done: AbstractSet[str] = frozenset()
    ) -> Iterator[tuple[list[str], int, Block | None]]:
        """The reads in file order as `Block` s of about `BLOCK_SAMPLES` samples: yields
        ``(taken, samples, block)``, where `taken` lists the IDs of the reads taken
        (those in `selection` when given), `samples` counts their samples, and
        `block` holds those not in `done` (``None`` if none is left)."""
        fields = {f.name: f for f in import_schema(basecalls=False).attributes}
        digitisation: dict[str, float] = {}
        run_texts: dict[str, tuple[str, str, str]] = {}  # run -> its run_id, rate, dig cells
        for run_id, info in self._runs.items():
            try:
                digitisation[run_id] = float(info["adc_max"] - info["adc_min"] + 1)
            except (KeyError, TypeError):
                digitisation[run_id] = math.nan
        row_count = max(int(self._reader.signal_batch_row_count), 1)  # 0: no signal
        signal_table = self._reader.signal_table
        n_signal_batches = signal_table.num_record_batches
        cached: dict[int, tuple[Any, np.ndarray, np.ndarray]] = {}

        def signal_batch(k: int) -> tuple[Any, np.ndarray, np.ndarray]:
            hit = cached.get(k)
            if hit is None:
                if len(cached) > 64:  # a read batch takes chunks from a few signal batches
                    cached.clear()
                batch = signal_table.get_batch(k)
                column = batch.column("signal")
                offsets = np.frombuffer(column.buffers()[1], np.int64)[
                    column.offset : column.offset + len(column) + 1
                ]
                samples = batch.column("samples").to_numpy().astype(np.int64)
                hit = cached[k] = (column.buffers()[2], offsets, samples)
            return hit

        for batch in self._reader.read_batches():
            cols = batch.columns
            id_column = cols.read_id
            if hasattr(id_column, "storage"):
                id_column = id_column.storage
            n = len(id_column)
            raw_ids = np.frombuffer(id_column.buffers()[1], np.uint8)[
                id_column.offset * 16 : (id_column.offset + n) * 16
            ].reshape(n, 16)
            ids = uuid_texts(raw_ids)
            keep = np.ones(n, bool)
            if selection is not None:
                keep = np.fromiter((i in selection for i in ids), bool, n)
            # chunks of each read: absolute signal rows
            sig = cols.signal
            row_starts = sig.offsets.to_numpy().astype(np.int64)
            row_starts -= row_starts[0]
            rows = sig.flatten().to_numpy().astype(np.int64)  # (flatten: of this slice)
            chunk_batch, chunk_row = np.divmod(rows, row_count)
            chunk_samples = np.empty(len(rows), np.int64)
            chunk_start = np.empty(len(rows), np.int64)
            chunk_len = np.empty(len(rows), np.int64)
            for k in np.unique(chunk_batch).tolist():
                if k >= n_signal_batches:
                    r = int(np.flatnonzero(chunk_batch == k)[0])
                    raise SourceError(
                        f"{self.path}: signal row {int(rows[r])} is past the signal table"
                    )
                _, offsets, samples = signal_batch(k)
                at = chunk_batch == k
                r = chunk_row[at]
                if r.size and (r.max() >= len(samples)):
                    raise SourceError(
                        f"{self.path}: signal row {int(rows[at][r.argmax()])} is past the "
                        "signal table"
                    )
                chunk_samples[at] = samples[r]
                chunk_start[at] = offsets[r]
                chunk_len[at] = offsets[r + 1] - offsets[r]
            summed = np.zeros(len(rows) + 1, np.int64)
            np.cumsum(chunk_samples, out=summed[1:])
            read_samples = summed[row_starts[1:]] - summed[row_starts[:-1]]  # 0 without chunks
            runs = cols.run_info
            run_names = [str(v) for v in runs.dictionary.to_pylist()]
            run_codes = runs.indices.to_numpy()
            for name in run_names:
                if name not in run_texts:
                    meta = self._runs.get(name)
                    if meta is None:
                        first = ids[int(np.flatnonzero(run_codes == run_names.index(name))[0])]
                        raise SourceError(
                            f"{self.path}: read {first!r} names run {name!r}, which the run "
                            "info table lacks"
                        )
                    run_texts[name] = (
                        attribute_text(fields["run_id"], name, ids[0]),
                        repr(float(meta.get("sample_rate", math.nan))),
                        repr(digitisation[name]),
                    )
            reasons = cols.end_reason
            reason_names = [
                attribute_text(fields["end_reason"], str(v or UNKNOWN_END_REASON), ids[0])
                for v in reasons.dictionary.to_pylist()
            ]
            reason_codes = reasons.indices.to_numpy()
            channel = cols.channel_32bit.to_numpy().astype(np.int64)
            well = cols.well.to_numpy().astype(np.int64)
            read_number = cols.read_number.to_numpy().astype(np.int64)
            for name, values in (
                ("channel", channel),
                ("well", well),
                ("read_number", read_number),
            ):
                low, high = (-(2**15), 2**15 - 1) if name == "well" else (-(2**31), 2**31 - 1)
                bad = np.flatnonzero(keep & ((values < low) | (values > high)))
                if bad.size:  # the error the plain path gives
                    r = int(bad[0])
                    attribute_text(fields[name], int(values[r]), ids[r])
            scale = cols.calibration_scale.to_numpy().astype(np.float64)
            dig = np.array([digitisation[name] for name in run_names], np.float64)[run_codes]
            # constant for a run: sampling_rate, digitisation; for a run and end
            # reason: end_reason and run_id (the last two cells)
            rate = [run_texts[name][1] for name in run_names]
            digs = [run_texts[name][2] for name in run_names]
            tails = [
                [f"{reason}\t{run_texts[name][0]}" for name in run_names] for reason in reason_names
            ]
            run_list = run_codes.tolist()
            texts = [
                ids,
                list(map(str, channel.tolist())),
                list(map(str, well.tolist())),
                list(map(str, read_number.tolist())),
                _reprs(cols.start.to_numpy().astype(np.float64)),
                [rate[c] for c in run_list],
                _reprs(cols.calibration_offset.to_numpy().astype(np.float64)),
                _reprs(scale),
                _reprs(scale * dig),
                [digs[c] for c in run_list],
                _reprs(cols.median_before.to_numpy().astype(np.float64)),
                [tails[e][c] for e, c in zip(reason_codes.tolist(), run_list, strict=True)],
            ]
            # pod5's other per-read fields (POD5_READ_FIELDS), after run_id, as `reads`
            # hands them over: each distinct value formatted once
            pores = _pore_types(cols.pore_type)
            forced = _ints_or_minus_one(cols.end_reason_forced)
            texts.append(_distinct_cells(fields["pore_type"], pores, ids))
            texts.append(_distinct_cells(fields["end_reason_forced"], forced, ids))
            for name in _EXTRA:
                column = (
                    _floats(getattr(cols, name)) if hasattr(cols, name) else np.full(n, math.nan)
                )
                texts.append(_float_cells(fields[name], column, ids))
            cells = list(map("\t".join, zip(*texts, strict=True)))
            wanted = np.flatnonzero(keep)
            taken_samples = read_samples[wanted]
            todo = wanted
            if done:
                todo = np.array([r for r in wanted.tolist() if ids[r] not in done], np.int64)
            if not todo.size:
                yield [ids[r] for r in wanted.tolist()], int(taken_samples.sum()), None
                continue
            first_block = True
            for start, stop in block_sizes(read_samples[todo].tolist(), BLOCK_SAMPLES):
                part = todo[start:stop]
                block = self._block(
                    part,
                    ids,
                    cells,
                    read_samples,
                    row_starts,
                    rows,
                    chunk_batch,
                    chunk_start,
                    chunk_len,
                    chunk_samples,
                    signal_batch,
                )
                taken = [ids[r] for r in part.tolist()]
                extra = int(read_samples[part].sum())
                if first_block:  # and the reads in `done`
                    taken += [ids[r] for r in wanted.tolist() if ids[r] in done]
                    extra += int(taken_samples.sum() - read_samples[todo].sum())
                first_block = False
                yield taken, extra, block

    def _block(
        self,
        part: np.ndarray,
        ids: list[str],
        cells: list[str],
        read_samples: np.ndarray,
        row_starts: np.ndarray,
        rows: np.ndarray,
        chunk_batch: np.ndarray,
        chunk_start: np.ndarray,
        chunk_len: np.ndarray,
        chunk_samples: np.ndarray,
        signal_batch: Any,
    ) -> Block:
        # the chunks of these reads, in read order
        lengths = row_starts[part + 1] - row_starts[part]
        read_chunks = np.zeros(len(part) + 1, np.int64)
        np.cumsum(lengths, out=read_chunks[1:])
        which = np.repeat(row_starts[part], lengths) + (
            np.arange(int(read_chunks[-1])) - np.repeat(read_chunks[:-1], lengths)
        )
        batches = chunk_batch[which]
        chunks = []
        order = []
        for k in np.unique(batches).tolist():
            at = np.flatnonzero(batches == k)
            segs = np.empty((len(at), 2), np.uint64)
            segs[:, 0] = chunk_start[which[at]]
            segs[:, 1] = chunk_len[which[at]]
            chunks.append((signal_batch(k)[0], segs.tobytes()))
            order.append(at)
        flat = np.concatenate(order) if order else np.zeros(0, np.int64)
        # chunks decompress in signal batch order; `reorder` puts them in read order
        reorder = None if np.all(flat[1:] > flat[:-1]) else np.argsort(flat)
        block_ids = [ids[r] for r in part.tolist()]
        path = self.path

        def locate(k: int) -> str:
            return f"{path}: read {block_ids[k]!r}"

        def decode_one(k: int) -> None:
            chunk_rows = which[read_chunks[k] : read_chunks[k + 1]]
            self._check_signal(block_ids[k], [int(rows[c]) for c in chunk_rows.tolist()])

        return Block(
            read_ids=block_ids,
            cells=[cells[r] for r in part.tolist()],
            counts=read_samples[part],
            chunks=chunks,
            samples=chunk_samples[which],
            read_chunks=read_chunks,
            reorder=reorder,
            locate=locate,
            decode_one=decode_one,
        )

    def _check_signal(self, read_id: str, rows: list[int]) -> None:
        """Decode the VBZ chunks (absolute signal `rows`) of one read on their own;
        raise `SourceError` naming the read and the chunk that fails."""
        import zstandard

        k = kernels()
        row_count = int(self._reader.signal_batch_row_count)
        for i, row in enumerate(rows):
            batch = self._reader.signal_table.get_batch(row // row_count)
            data = batch.column("signal")[row % row_count].as_buffer()
            samples = int(batch.column("samples")[row % row_count].as_py())
            where = f"{self.path}: read {read_id!r}, VBZ signal chunk {i} (signal row {row})"
            try:
                plain = zstandard.ZstdDecompressor().decompress(
                    data, max_output_size=3 * samples + 16
                )
            except zstandard.ZstdError as exc:
                raise SourceError(f"{where}: not a zstd frame that decodes ({exc})") from exc
            _, _, failed = k.vbz_to_svb(
                [plain], np.array([samples], np.int64), np.array([0, 1], np.int64)
            )
            if failed >= 0:
                raise SourceError(
                    f"{where}: {len(plain)} bytes of svb16 do not hold its {samples} samples"
                )
