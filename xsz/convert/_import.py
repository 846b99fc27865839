"""`import_reads`: nanopore files (pod5, SLOW5/BLOW5, FAST5) into a new SZ store."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from xsz._progress import nothing, progress_hook
from xsz.convert._dest import path_size
from xsz.convert._moves import MoveSource, check_basecalls
from xsz.convert._pod5 import Pod5Source
from xsz.convert._read_fields import NO_BASECALLS, import_schema
from xsz.convert._sources import open_source, source_files, source_names
from xsz.errors import ReadNotFoundError, SourceError, UsageError, XszError
from xsz.format import SZWriter, check_replaceable, lock_path, salvage, stale_siblings
from xsz.source import local_path

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from collections.abc import Set as AbstractSet

    from xsz.convert._blocks import Block, Encoded
    from xsz.convert._sources import Source

__all__ = ["LEVEL", "ImportSummary", "import_reads"]

log = logging.getLogger(__name__)

LEVEL: Final = 1
"""zstd level of imported frames. On the real reads of ../shared/data, level 1 makes
frames within 0.3% of level 3's size (smaller for some files) in 60% of the time:
svb-coded signal is almost all entropy-coded literals, which match finding does
not help."""
PENDING_BYTES: Final = 1 << 24
"""Signal bytes that may wait for the writer's threads: with the read being
decoded, what an import holds in memory (a few reads)."""
BLOCKS = True
"""Import sources that can (pod5 with VBZ signal) a block of reads at a time
(`xsz.convert._blocks`); ``False`` takes every source read by read (for tests)."""
RUN_SUMMARY: Final = ("flow_cell_id", "sample_id", "experiment_name", "sequencing_kit")
"""Run fields repeated at the top of the header (one value, or a list if runs differ)."""


@dataclass(frozen=True)
class ImportSummary:
    """What `import_reads` did."""

    path: Path | str
    """The SZ store written (a path, or the URL of one in object storage)."""
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


@functools.cache
def _version() -> str:
    try:
        return version("xsz")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


class _Import:
    """The reading side of one import: sources, selection, basecalls, what was found."""

    def __init__(
        self,
        files: list[tuple[Path, str]],
        selection: frozenset[str] | None,
        moves: MoveSource | None,
    ) -> None:
        self.files = files
        self.selection = selection
        self.moves = moves
        self.n_threads = 2
        self.kept: Source | None = None  # a single source stays open between the passes
        self.found: set[str] = set()  # the selected reads met so far
        self.n_reads = 0
        self.n_samples = 0
        self.n_called = 0

    def where(self) -> str:
        return str(self.files[0][0]) if len(self.files) == 1 else f"{len(self.files)} files"

    def survey(self) -> tuple[dict[str, dict[str, Any]], int | None]:
        """First pass, metadata only: the runs, and the number of reads when known.

        Read IDs the sources list cheaply (pod5, FAST5) are checked against the
        selection and the basecalls here, before anything is decoded.
        """
        runs: dict[str, dict[str, Any]] = {}
        want_ids = self.selection is not None or self.moves is not None
        ids: set[str] | None = set() if want_ids else None
        counts: list[int | None] = []
        for path, fmt in self.files:
            source = open_source(path, fmt)
            try:
                for run_id, info in source.runs().items():
                    runs.setdefault(run_id, info)
                if ids is not None:
                    listed = source.read_ids()
                    if listed is None:
                        ids = None
                    else:
                        ids.update(listed)
                counts.append(source.count())
            finally:
                if len(self.files) == 1:
                    self.kept = source
                else:
                    source.close()
        if ids is not None:
            self.check_found(ids)
            wanted = ids if self.selection is None else self.selection
            if self.moves is not None and not any(i in self.moves for i in wanted):
                raise self.no_match()
        if self.selection is not None:
            return runs, len(self.selection)
        return runs, None if None in counts else sum(c for c in counts if c is not None)

    def stream(
        self, writer: SZWriter, update: Callable[[int], None], done: AbstractSet[str] = frozenset()
    ) -> None:
        """Second pass: every read, with its basecalls, into `writer` (but those in
        `done`, already there)."""
        for path, fmt in self.files:
            source, self.kept = self.kept or open_source(path, fmt), None
            try:
                if (
                    self.moves is None
                    and BLOCKS
                    and isinstance(source, Pod5Source)
                    and source.can_block()
                ):
                    self.stream_blocks(source, writer, update, done)
                    continue
                for read in source.reads(self.selection):
                    if self.selection is not None:
                        self.found.add(read.read_id)
                    self.n_reads += 1
                    self.n_samples += len(read.signal)
                    if read.read_id in done:
                        if self.moves is not None and read.read_id in self.moves:
                            self.n_called += 1
                        update(self.n_reads)
                        continue
                    # copy=False: each signal is a new array from the reader, and
                    # basecalls are never modified once parsed
                    if self.moves is None:
                        writer.put(*read.attributes(), read.signal, copy=False)
                    else:
                        calls = self.moves.get(read.read_id)
                        if calls is None:
                            calls = NO_BASECALLS
                        else:
                            check_basecalls(calls, read.read_id, len(read.signal), self.moves.path)
                            self.n_called += 1
                        writer.put(
                            *read.attributes(),
                            *calls.attributes(),
                            read.signal,
                            *calls.datasets(),
                            copy=False,
                        )
                    update(self.n_reads)
            finally:
                source.close()
            log.debug("read %s", path)
        self.check_found(self.found)
        if self.moves is not None and self.n_called == 0:
            raise self.no_match()

    def stream_blocks(
        self,
        source: Pod5Source,
        writer: SZWriter,
        update: Callable[[int], None],
        done: AbstractSet[str],
    ) -> None:
        """`stream` for a source that gives blocks (`Pod5Source.blocks`): each block is
        encoded by a thread of a pool (the work releases the GIL), and the blocks are
        put in order, a few at most waiting."""
        threads = max(self.n_threads, 1)
        pending: deque[tuple[Block, Future[Encoded]]] = deque()

        def put_first() -> None:
            block, future = pending.popleft()
            encoded = future.result()
            writer.put_encoded(
                block.read_ids,
                block.cells,
                encoded.frames,
                encoded.sizes,
                block.counts,
                encoded.crcs,
                checksummed=writer.checksum,
            )

        with ThreadPoolExecutor(threads, thread_name_prefix="xsz-import") as pool:
            try:
                for taken, n_samples, block in source.blocks(self.selection, done):
                    if block is not None:
                        pending.append(
                            (block, pool.submit(block.encode, writer.level, writer.checksum))
                        )
                        while len(pending) > threads:
                            put_first()
                    if self.selection is not None:
                        self.found.update(taken)
                    for k in range(self.n_reads + 1, self.n_reads + len(taken) + 1):
                        update(k)  # the convention: after each read
                    self.n_reads += len(taken)
                    self.n_samples += n_samples
                while pending:
                    put_first()
            finally:
                for _, future in pending:
                    future.cancel()

    def check_found(self, found: set[str]) -> None:
        if self.selection is None:
            return
        missing = sorted(self.selection - found)
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            raise ReadNotFoundError(
                f"{self.where()}: no read with ID {', '.join(repr(m) for m in missing[:3])}{more}; "
                f"{len(missing)} of the {len(self.selection)} reads asked for are missing"
            )

    def no_match(self) -> SourceError:
        assert self.moves is not None
        example = next(iter(self.moves.read_ids))
        return SourceError(
            f"{self.moves.path}: none of its {len(self.moves)} read IDs (e.g. {example!r}) is a "
            f"read imported from {self.where()}"
        )

    def close(self) -> None:
        if self.kept is not None:
            self.kept.close()
            self.kept = None
        if self.moves is not None:
            self.moves.close()


def _header(
    src: object,
    files: Sequence[tuple[Path, str]],
    runs: dict[str, dict[str, Any]],
    moves: MoveSource | None,
) -> dict[str, Any]:
    header: dict[str, Any] = {
        "xsz_version": _version(),
        "source_format": ",".join(dict.fromkeys(fmt for _, fmt in files)),
        "source_files": source_names(src, [p for p, _ in files]),
    }
    for key in RUN_SUMMARY:
        values = list(dict.fromkeys(r[key] for r in runs.values() if r.get(key)))
        if values:
            header[key] = values[0] if len(values) == 1 else values
    header["runs"] = runs
    if moves is not None:
        header["basecalls"] = {"file": moves.path.name, "programs": moves.programs()}
    return header


def import_reads(
    src: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    sz_path: str | os.PathLike[str],
    *,
    format: str | None = None,
    moves: str | os.PathLike[str] | None = None,
    read_ids: Iterable[str] | None = None,
    overwrite: bool = False,
    n_threads: int = 2,
    level: int = LEVEL,
    checksum: bool = True,
    resume: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
    storage_options: Mapping[str, Any] | None = None,
) -> ImportSummary:
    """Import nanopore reads (pod5, SLOW5/BLOW5, FAST5) into a new SZ store.

    Reads stream from the source into `xsz.format.SZWriter`: a few reads (for
    pod5, a few blocks of about 2 M samples) are in memory at any time.
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
        The SZ store to create: a path, or an object storage URL (``s3://``,
        ``gs://``, ``az://``), where ``dat`` is uploaded as it is written and
        ``index`` last (see `xsz.format.SZWriter`).
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
        Encoding threads (0: encode in the calling thread). A pod5 file with VBZ
        signal is read a block of reads at a time, its compressed chunks
        transcoded by these threads without the GIL (`xsz.convert._blocks`); the
        readers of SLOW5/BLOW5 and FAST5 hold the GIL while they decode, so there
        more threads gain little (BENCHMARKS.md, "Import" and "Issue 11: import").
    level
        zstd level of the frames (1; any level reads back, see `LEVEL`).
    checksum
        Give each frame zstd's content checksum (``False``: pysz's exact frames).
    resume
        Take up a killed import into `sz_path`: the reads its staging directory
        (``.NAME.partial-*``, of the same sources) holds whole are kept as they
        are, and only the others are read and encoded again.
    progress
        ``True`` for a tqdm progress bar; a callable is called as
        ``progress(reads_done, reads_total_or_None)`` after each read.
    storage_options
        For a URL `sz_path`: settings of ``obstore.store.from_url`` (by default
        from the environment, ``AWS_ENDPOINT_URL`` ...).

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

    Between ``run_id`` and ``Raw``, the other per-read fields of pod5
    (``POD5_READ_FIELDS``), under pod5's names, so that `export_pod5`,
    `export_slow5` and `export_fast5` give them back; SLOW5/BLOW5 files fill
    the numeric ones from aux fields of the same names (blue-crab writes
    them), FAST5 files from Raw attributes of the same names and
    ``pore_type`` from the read group:

    ==============================  ====  ===============================================
    field                           code  meaning (pod5's read table)
    ==============================  ====  ===============================================
    ``pore_type``                   S     pore type (``""`` if unknown)
    ``end_reason_forced``           I16   1 if the end reason was forced, 0 if not, -1
    ``num_minknow_events``          F64   MinKNOW events of the read (an integer)
    ``tracked_scaling_scale``       F32   tracked scaling: scale
    ``tracked_scaling_shift``       F32   tracked scaling: shift
    ``predicted_scaling_scale``     F32   predicted scaling: scale
    ``predicted_scaling_shift``     F32   predicted scaling: shift
    ``num_reads_since_mux_change``  F64   reads on the channel since its mux changed
    ``time_since_mux_change``       F32   seconds since the mux changed
    ``open_pore_level``             F32   open pore level, pA
    ``expected_open_pore_level``    F32   expected open pore level, pA
    ``selected_read_level``         F32   selected read level, pA
    ==============================  ====  ===============================================

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
    local = local_path(sz_path)
    remote = str(sz_path) if local is None else None
    dest = Path(local) if local is not None else Path(str(sz_path).rstrip("/"))
    if remote is None:
        check_replaceable(dest, overwrite)
    elif resume:
        raise UsageError(f"resume=True takes up imports into local stores, not {remote}")
    files = source_files(src, format)
    selection = None
    if read_ids is not None:
        selection = frozenset([read_ids] if isinstance(read_ids, str) else read_ids)
    job = _Import(files, selection, MoveSource(moves) if moves is not None else None)
    job.n_threads = n_threads
    writer: SZWriter | None = None
    held: _Held | None = None
    finished = False
    close_progress = nothing
    try:
        runs, total = job.survey()
        writer = SZWriter(
            remote or dest,
            import_schema(basecalls=job.moves is not None),
            header=_header(src, files, runs, job.moves),
            overwrite=overwrite,
            n_threads=n_threads,
            level=level,
            checksum=checksum,
            max_pending_bytes=PENDING_BYTES,
            storage_options=storage_options,
        )
        update, close_progress = progress_hook(progress, total, dest.name)
        done: AbstractSet[str] = frozenset()
        if resume:
            held, done = _resume(dest, writer)
        job.stream(writer, update, done)
        writer.close()
        finished = True
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        close_progress()
        job.close()
        if held is not None:
            held.release(remove=finished)
    summary = ImportSummary(
        path=remote or dest,
        source_format=writer.header["source_format"],
        sources=tuple(p for p, _ in files),
        n_reads=writer.n_reads,
        n_samples=job.n_samples,
        n_basecalled=job.n_called if job.moves is not None else None,
        seconds=time.perf_counter() - start,
        nbytes_source=sum(p.stat().st_size for p, _ in files),
        nbytes_store=path_size(dest) if remote is None else writer.nbytes_store,
    )
    if job.moves is not None and job.n_called < summary.n_reads:
        log.info(
            "%d of %d reads have no record in %s",
            summary.n_reads - job.n_called,
            summary.n_reads,
            job.moves.path,
        )
    log.info(
        "imported %d reads (%d samples) from %s into %s in %.2f s",
        summary.n_reads,
        summary.n_samples,
        job.where(),
        remote or dest,
        summary.seconds,
    )
    return summary


@dataclass
class _Held:
    """A killed import's staging directory, locked while its reads are taken over."""

    path: Path
    fd: int

    def release(self, *, remove: bool) -> None:
        """Unlock; with `remove` (its reads are in the new store) delete it first."""
        if remove:
            shutil.rmtree(self.path, ignore_errors=True)
        os.close(self.fd)


def _resume(dest: Path, writer: SZWriter) -> tuple[_Held | None, AbstractSet[str]]:
    """Copy into `writer` the whole reads of the newest staging directory a killed
    import into `dest` left with the same header; return it (locked) and their IDs."""
    for sibling in sorted(
        (s for s in stale_siblings(dest) if s.kind == "partial" and not s.owned),
        key=lambda s: s.path.stat().st_mtime,
        reverse=True,
    ):
        try:
            fd = lock_path(sibling.path)
        except OSError:  # taken meanwhile
            continue
        try:
            salvaged = salvage(sibling.path)
        except XszError:
            os.close(fd)
            continue
        reader = salvaged.reader
        if reader.schema != writer.schema or reader.header != writer.header:
            reader.close()
            os.close(fd)
            continue
        done = set()
        with reader:
            attrs = [reader.index.attribute(f.name) for f in reader.schema.attributes]
            counts = [reader.index.count.get(f.name) for f in reader.schema.datasets]
            ids = reader.ids
            for row in range(len(reader)):
                try:
                    frames = reader.frames([row])[0]
                    salvaged.check_frames(row, frames)
                    reader.decode(row, frames)
                except XszError:
                    continue  # read again from the source
                writer.put_frames(
                    [column[row] for column in attrs],
                    frames,
                    [None if c is None else int(c[row]) for c in counts],
                )
                done.add(str(ids[row]))
        log.info("resuming %s: %d reads taken from %s", dest, len(done), sibling.path)
        return _Held(sibling.path, fd), done
    log.info("resuming %s: no staging directory of the same import; starting afresh", dest)
    return None, frozenset()
