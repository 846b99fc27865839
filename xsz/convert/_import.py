"""`import_reads`: nanopore files (pod5, SLOW5/BLOW5, FAST5) into a new SZ store."""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from xsz.convert._detect import SIGNAL_FORMATS, detect_format
from xsz.convert._fast5 import Fast5Source
from xsz.convert._moves import MoveSource, check_basecalls
from xsz.convert._pipeline import FramePipeline
from xsz.convert._pod5 import Pod5Source
from xsz.convert._schema import NO_BASECALLS, import_schema
from xsz.convert._slow5 import Slow5Source
from xsz.errors import ReadNotFoundError, SourceError, UsageError
from xsz.format import SZWriter, check_replaceable

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from xsz.convert._schema import SourceRead

__all__ = ["ImportSummary", "import_reads", "progress_hook"]

log = logging.getLogger(__name__)

SUFFIXES: Final = {".pod5": "pod5", ".blow5": "blow5", ".slow5": "slow5", ".fast5": "fast5"}
"""File name endings looked for when a directory is imported."""
LEVEL: Final = 1
"""zstd level of imported frames. On the real reads of ../shared/data, level 1 makes
frames within 0.3% of level 3's size (smaller for some files) in 55% of the time:
svb-coded signal is almost all entropy-coded literals, which match finding does
not help."""
_RUN_SUMMARY: Final = ("flow_cell_id", "sample_id", "experiment_name", "sequencing_kit")



class _Source(Protocol):
    path: Path
    format: str

    def runs(self) -> dict[str, dict[str, Any]]: ...
    def read_ids(self) -> list[str] | None: ...
    def count(self) -> int | None: ...
    def reads(self, selection: frozenset[str] | None = None) -> Iterator[SourceRead]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class ImportSummary:
    """What `import_reads` did."""

    path: Path
    """The SZ store written."""
    source_format: str
    """``"pod5"``, ``"blow5"``, ``"slow5"`` or ``"fast5"`` (comma-separated if mixed)."""
    sources: tuple[Path, ...]
    """The files read, in order."""
    n_reads: int
    n_samples: int
    n_basecalled: int | None
    """Reads that got basecalls (``None`` without ``moves``)."""
    seconds: float
    nbytes_source: int
    """Bytes of the source files."""
    nbytes_store: int
    """Bytes of the SZ store (``index`` + ``dat``)."""


def _open(path: Path, fmt: str) -> _Source:
    if fmt == "pod5":
        return Pod5Source(path)
    if fmt in ("blow5", "slow5"):
        return Slow5Source(path, fmt)
    return Fast5Source(path)


def _source_files(src: object, format: str | None) -> list[tuple[Path, str]]:  # noqa: A002
    """``(file, format)`` for every file to import, in order."""
    if format is not None and format not in SIGNAL_FORMATS:
        raise UsageError(f"format must be one of {list(SIGNAL_FORMATS)} or None, got {format!r}")
    paths = [src] if isinstance(src, str | os.PathLike) else list(src)  # type: ignore[call-overload]
    if not paths:
        raise UsageError("no source given: pass a file, a directory or a list of files")
    out: list[tuple[Path, str]] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.suffix.lower() in SUFFIXES and f.is_file() and not f.name.startswith(".")
            )
            if not found:
                if {"index", "dat"} <= {c.name for c in p.iterdir()}:
                    raise UsageError(f"{p} is already an SZ store")
                raise SourceError(f"{p}: no {', '.join(SUFFIXES)} files in this directory")
            out.extend((f, format or detect_format(f)) for f in found)
        else:
            out.append((p, format or detect_format(p)))
    for p, fmt in out:
        if fmt not in SIGNAL_FORMATS:
            hint = "; convert Zarr with from_zarr" if fmt == "zarr" else ""
            raise UsageError(f"{p} is {fmt}, not a nanopore signal file to import{hint}")
    return out


def _names(src: object, files: Sequence[Path]) -> list[str]:
    if isinstance(src, str | os.PathLike) and Path(src).is_dir():
        return [f.relative_to(src).as_posix() for f in files]
    return [f.name for f in files]


@functools.cache
def _version() -> str:
    try:
        return version("xsz")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _header(
    formats: Sequence[str], names: Sequence[str], runs: dict[str, dict[str, Any]],
    moves: MoveSource | None,
) -> dict[str, Any]:
    header: dict[str, Any] = {
        "xsz_version": _version(),
        "source_format": ",".join(dict.fromkeys(formats)),
        "source_files": list(names),
    }
    for key in _RUN_SUMMARY:
        values = list(dict.fromkeys(r[key] for r in runs.values() if r.get(key)))
        if values:
            header[key] = values[0] if len(values) == 1 else values
    header["runs"] = runs
    if moves is not None:
        header["basecalls"] = {"file": moves.path.name, "programs": moves.programs()}
    return header


def progress_hook(progress: object, total: int | None, desc: str) -> tuple[Callable[[int], None], Callable[[], None]]:
    """``(update(done), close())`` for the `progress` argument of `import_reads`."""
    if progress is None or progress is False:
        return (lambda done: None), (lambda: None)
    if progress is True:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="read", desc=desc, dynamic_ncols=True)
        return (lambda done: bar.update(done - bar.n)), bar.close
    if callable(progress):
        return (lambda done: progress(done, total)), (lambda: None)
    raise UsageError(f"progress must be a bool or a callable, got {progress!r}")


def import_reads(
    src: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    sz_path: str | os.PathLike[str],
    *,
    format: str | None = None,  # noqa: A002
    moves: str | os.PathLike[str] | None = None,
    read_ids: Iterable[str] | None = None,
    overwrite: bool = False,
    n_threads: int = 2,
    level: int = LEVEL,
    progress: bool | Callable[[int, int | None], object] = False,
) -> ImportSummary:
    """Import nanopore reads (pod5, SLOW5/BLOW5, FAST5) into a new SZ store.

    Reads stream from the source through the format's own reader into
    `xsz.format.SZWriter`: a few reads are in memory at any time, however long.
    The raw signal is kept exactly (int16 ADC values) with its calibration, so
    ``pA = (Raw + offset) * scale``.

    Parameters
    ----------
    src
        A pod5, BLOW5, SLOW5 or FAST5 file (multi- or single-read, gzip or VBZ),
        a directory (every ``.pod5``, ``.blow5``, ``.slow5``, ``.fast5`` file in
        it and below, in name order), or a list of files. Formats are recognised
        by content (`detect_format`).
    sz_path
        The SZ store to create.
    format
        Read every source as this format (``"pod5"``, ``"blow5"``, ``"slow5"``,
        ``"fast5"``) instead of recognising it.
    moves
        A SAM/BAM file with move tables (``mv`` tag): adds the basecall fields
        below, matched by read ID. Reads without a record get empty datasets and
        -1 / NaN attributes; a file matching none of the reads is an error.
    read_ids
        Import only these reads (in source order); all must exist in the source.
    overwrite
        Replace an existing SZ store at `sz_path` (only once the import succeeded).
    n_threads
        Encoder threads (0: encode in the calling thread).
    level
        zstd level of the frames (1; any level reads back, see `LEVEL`).
    progress
        ``True`` for a tqdm progress bar; a callable is called as
        ``progress(reads_done, reads_total_or_None)`` after each read.

    Returns
    -------
    ImportSummary

    Raises
    ------
    SourceError
        An unknown, truncated or malformed source or SAM/BAM file, or basecalls
        that do not fit their read (the message names the file and read).
    ReadNotFoundError
        Some `read_ids` are not in the source (named in the message).
    StoreExistsError
        `sz_path` exists and `overwrite` is false.
    DuplicateReadError
        Two sources hold the same read.

    Notes
    -----
    The store's schema is the same for every source format (so stores can be
    merged); fields a format lacks get -1 (integers), NaN (floats) or
    ``"unknown"`` / ``""`` (text).

    =================  ====  ==========================================================
    field              code  meaning
    =================  ====  ==========================================================
    ``ID``             S     read ID (UUID); the ``read`` coordinate in xarray
    ``channel``        I32   channel the read came from
    ``well``           I16   well (mux) of the channel at the start of the read
    ``read_number``    I32   read number within the channel
    ``start_sample``   F64   first sample, counted from the start of the run (an integer)
    ``sampling_rate``  F64   samples per second (Hz)
    ``offset``         F64   calibration offset, ADC units: pA = (Raw + offset) * scale
    ``scale``          F64   calibration scale, pA per ADC unit (= range / digitisation)
    ``range``          F64   calibration range, pA
    ``digitisation``   F64   ADC levels
    ``median_before``  F64   median current before the read, pA
    ``end_reason``     S     why the read ended, lower case (``signal_positive`` ...)
    ``run_id``         S     acquisition (run) ID: its metadata is ``header["runs"][run_id]``
    ``Raw``            I16   the raw signal, ADC units, exactly as the source holds it
    =================  ====  ==========================================================

    Where each field comes from:

    =================  ========================  ======================  ======================
    field              pod5 (``pod5.Reader``)    SLOW5 / BLOW5           FAST5 (per read group)
    =================  ========================  ======================  ======================
    ``ID``             ``read_id``               ``read_id``             Raw ``read_id``
    ``channel``        ``pore.channel``          ``channel_number``      channel_id
                                                                         ``channel_number``
    ``well``           ``pore.well``             ``start_mux``           Raw ``start_mux``
    ``read_number``    ``read_number``           ``read_number``         Raw ``read_number``
    ``start_sample``   ``start_sample``          ``start_time``          Raw ``start_time``
    ``sampling_rate``  run ``sample_rate``       ``sampling_rate``       channel_id (same name)
    ``offset``         ``calibration.offset``    ``offset``              channel_id (same name)
    ``scale``          ``calibration.scale``     range / digitisation    range / digitisation
    ``range``          scale * digitisation      ``range``               channel_id (same name)
    ``digitisation``   adc_max - adc_min + 1     ``digitisation``        channel_id (same name)
    ``median_before``  ``median_before``         ``median_before``       Raw ``median_before``
    ``end_reason``     ``end_reason`` name       label of the enum       label of Raw
                                                                         ``end_reason``
    ``run_id``         run ``acquisition_id``    header ``run_id``       tracking_id ``run_id``
    ``Raw``            ``signal``                ``signal``              Raw/Signal
    =================  ========================  ======================  ======================

    With ``moves``, from the read's primary SAM/BAM record (``xsz.convert._moves``):

    ===================  ====  ===========================================================
    field                code  meaning (SAM field or tag); for a read without a record
    ===================  ====  ===========================================================
    ``move_stride``      I32   samples per move (``mv[0]``); -1
    ``trimmed_samples``  I32   samples before the first move (``ts``, 0 if absent); -1
    ``mean_qscore``      F32   mean q-score (``qs``); NaN
    ``Move``             U16   the move table, one 0/1 per stride (``mv[1:]``); empty
    ``Sequence``         S     the bases in the read's orientation (SEQ); ""
    ``Quality``          S     phred+33 qualities as in FASTQ (QUAL); ""
    ===================  ====  ===========================================================

    The header holds ``xsz_version``, ``source_format``, ``source_files``,
    ``runs`` (per run ID: pod5's run-info fields, with ``tracking_id`` and
    ``context_tags``, or ``slow5_header``), ``flow_cell_id``, ``sample_id``,
    ``experiment_name`` and ``sequencing_kit`` (one value, or a list when runs
    differ), and with ``moves`` ``basecalls`` (file name, ``@PG`` programs).

    If anything fails, nothing is left at `sz_path` (an existing store there is
    untouched): the store is built aside and renamed into place at the end.
    """
    start = time.perf_counter()
    dest = Path(sz_path)
    check_replaceable(dest, overwrite)
    files = _source_files(src, format)
    selection = None
    if read_ids is not None:
        selection = frozenset([read_ids] if isinstance(read_ids, str) else read_ids)
    move_source = MoveSource(moves) if moves is not None else None
    opened: list[_Source] = []
    writer: SZWriter | None = None
    pipeline: FramePipeline | None = None
    close_progress: Callable[[], None] = lambda: None  # noqa: E731
    try:
        runs: dict[str, dict[str, Any]] = {}
        ids: list[str] | None = []
        counts: list[int | None] = []
        for path, fmt in files:  # first pass: metadata only
            source = _open(path, fmt)
            try:
                for run_id, info in source.runs().items():
                    runs.setdefault(run_id, info)
                file_ids = source.read_ids()
                ids = None if ids is None or file_ids is None else ids + file_ids
                counts.append(source.count())
            finally:
                if len(files) > 1:
                    source.close()
                else:
                    opened.append(source)
        if ids is not None:
            _check_found(selection, set(ids), files)
            if move_source is not None:
                wanted = ids if selection is None else selection
                if not any(i in move_source for i in wanted):
                    raise _no_match(move_source, files)
        total = len(selection) if selection is not None else (
            None if None in counts else sum(c for c in counts if c is not None)
        )
        header = _header([f for _, f in files], _names(src, [p for p, _ in files]), runs, move_source)
        writer = SZWriter(
            dest, import_schema(basecalls=move_source is not None), header=header,
            overwrite=overwrite, n_threads=0, level=level,
        )
        update, close_progress = progress_hook(progress, total, dest.name)
        done = 0

        def written(_: Sequence[object]) -> None:
            nonlocal done
            done += 1
            update(done)

        pipeline = FramePipeline(writer, n_threads=n_threads, level=level, on_written=written)
        n_samples = 0
        n_called = 0
        found: set[str] = set()
        for k, (path, fmt) in enumerate(files):
            source = opened.pop() if opened else _open(path, fmt)
            try:
                for read in source.reads(selection):
                    found.add(read.read_id)
                    n_samples += len(read.signal)
                    if move_source is None:
                        pipeline.put(read.attributes(), (read.signal,), read.signal.nbytes)
                        continue
                    calls = move_source.get(read.read_id)
                    if calls is None:
                        calls = NO_BASECALLS
                    else:
                        check_basecalls(calls, read.read_id, len(read.signal), move_source.path)
                        n_called += 1
                    pipeline.put(
                        read.attributes() + calls.attributes(),
                        (read.signal, *calls.datasets()),
                        read.signal.nbytes + calls.moves.nbytes + 2 * len(calls.sequence),
                    )
            finally:
                source.close()
            log.debug("imported %s (%d of %d files)", path, k + 1, len(files))
        pipeline.finish()
        _check_found(selection, found, files)
        if move_source is not None and n_called == 0:
            raise _no_match(move_source, files)
        writer.close()
    except BaseException:
        if pipeline is not None:
            pipeline.cancel()
        if writer is not None:
            writer.abort()
        for source in opened:
            source.close()
        raise
    finally:
        close_progress()
        if move_source is not None:
            move_source.close()
    summary = ImportSummary(
        path=dest,
        source_format=writer.header["source_format"],
        sources=tuple(p for p, _ in files),
        n_reads=writer.n_reads,
        n_samples=n_samples,
        n_basecalled=n_called if move_source is not None else None,
        seconds=time.perf_counter() - start,
        nbytes_source=sum(p.stat().st_size for p, _ in files),
        nbytes_store=sum(f.stat().st_size for f in dest.iterdir()),
    )
    if move_source is not None and n_called < summary.n_reads:
        log.info("%d of %d reads have no record in %s", summary.n_reads - n_called,
                 summary.n_reads, move_source.path)
    log.info("imported %d reads (%d samples) from %d %s file(s) into %s in %.2f s",
             summary.n_reads, n_samples, len(files), summary.source_format, dest, summary.seconds)
    return summary


def _check_found(selection: frozenset[str] | None, found: set[str], files: Sequence[tuple[Path, str]]) -> None:
    if selection is None:
        return
    missing = sorted(selection - found)
    if missing:
        where = files[0][0] if len(files) == 1 else f"{len(files)} files"
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise ReadNotFoundError(
            f"{where}: no read with ID {', '.join(repr(m) for m in missing[:3])}{more}; "
            f"{len(missing)} of the {len(selection)} reads asked for are missing"
        )


def _no_match(moves: MoveSource, files: Sequence[tuple[Path, str]]) -> SourceError:
    where = files[0][0] if len(files) == 1 else f"{len(files)} source files"
    example = next(iter(moves.read_ids))
    return SourceError(
        f"{moves.path}: none of its {len(moves)} read IDs (e.g. {example!r}) is a read "
        f"imported from {where}"
    )
