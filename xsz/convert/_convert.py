"""`convert`: any supported direction between nanopore files, SZ and Zarr, in one call.

The SZ store is the hub. A source that is not SZ is first brought into SZ
(`import_reads` for pod5 / BLOW5 / SLOW5 / FAST5, `from_zarr` for Zarr); a
destination that is not SZ is then made from it (`to_zarr`, `export_pod5`,
`export_slow5`, `export_fast5`).
When both ends are not SZ, the SZ store in between is made in a hidden,
locked sibling of the destination (a ``.NAME.spool-*`` `xsz.format.Staging`,
which `xsz.format.stale_siblings` lists if the conversion is killed), removed
at the end. Every step writes aside and renames into place, so a failed or
interrupted conversion leaves no destination that looks finished.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from xsz.convert._dest import check_destination, path_size
from xsz.convert._detect import FORMATS, SIGNAL_FORMATS, detect_format
from xsz.convert._export import export_pod5
from xsz.convert._fast5_export import export_fast5
from xsz.convert._import import import_reads
from xsz.convert._slow5_export import export_slow5
from xsz.errors import SourceError, UsageError
from xsz.format import Staging, check_replaceable
from xsz.source import local_path, upload_store, url_size

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Mapping

    from xsz.convert._options import Layout

__all__ = ["EXPORTS", "TARGETS", "ConvertSummary", "convert", "target_format"]

TARGETS: Final = ("sz", "zarr", "pod5", "blow5", "slow5", "fast5")
"""The formats `convert` writes."""
EXPORTS: Final = ("pod5", "blow5", "slow5", "fast5")
"""The nanopore formats an imported SZ store is exported to."""
_SUFFIXES: Final = {
    ".sz": "sz",
    ".zarr": "zarr",
    ".zip": "zarr",
    ".pod5": "pod5",
    ".blow5": "blow5",
    ".slow5": "slow5",
    ".fast5": "fast5",
}


@dataclass(frozen=True)
class ConvertSummary:
    """What `convert` did."""

    source: Path
    destination: Path | str
    """The path written, or its URL."""
    source_format: str
    destination_format: str
    steps: tuple[str, ...]
    """The conversions made, such as ``("pod5 -> sz", "sz -> zarr")``."""
    n_reads: int
    """Reads written to the destination."""
    nbytes_source: int
    nbytes_destination: int
    seconds: float


class _Bar:
    """A tqdm bar made on the first report, when the total is known."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: Any = None

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None and self.desc:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="read", desc=self.desc, dynamic_ncols=True)
            self.desc = ""  # one bar per step
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def target_format(path: str | os.PathLike[str]) -> str:
    """The format a destination's name asks for: ``.sz``, ``.zarr`` / ``.zip``, ``.pod5``,
    ``.blow5``, ``.slow5``, ``.fast5``.

    Examples
    --------
    >>> target_format("run.zarr"), target_format("run.zarr.zip"), target_format("x.SZ")
    ('zarr', 'zarr', 'sz')
    """
    found = _SUFFIXES.get(Path(path).suffix.lower())
    if found is None:
        raise UsageError(
            f"cannot tell which format to write from the name {str(path)!r}: end it with "
            f"{', '.join(_SUFFIXES)}, or pass to= one of {', '.join(map(repr, TARGETS))}"
        )
    return found


def _source_format(src: Path, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise UsageError(f"source format must be one of {', '.join(FORMATS)}, got {given!r}")
        return given
    try:
        return detect_format(src)
    except SourceError:
        if src.is_dir():  # a directory of nanopore files: import_reads walks it
            return "nanopore files"
        raise


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    src_format: str | None = None,
    dst_format: str | None = None,
    moves: str | os.PathLike[str] | None = None,
    read_ids: Iterable[str] | None = None,
    layout: Layout | None = None,
    codec: str | None = None,
    overwrite: bool = False,
    n_threads: int = 2,
    checksum: bool = True,
    resume: bool = False,
    progress: bool | Callable[[int, int | None], object] = False,
    storage_options: Mapping[str, Any] | None = None,
) -> ConvertSummary:
    """Convert `src` to `dst`: nanopore files or Zarr to SZ, SZ to Zarr or nanopore files,
    or through SZ.

    Parameters
    ----------
    src
        A pod5, BLOW5, SLOW5 or FAST5 file (or a directory of them), an SZ store
        or a Zarr store, recognised by content.
    dst
        What to write; its format comes from its name (``.sz``, ``.zarr`` or
        ``.zip``, ``.pod5``, ``.blow5``, ``.slow5``, ``.fast5``) unless `dst_format` says it. An SZ or Zarr
        destination may be an object storage URL (``s3://bucket/run.sz``):
        uploaded as it is written, committed last (see `import_reads`, `to_zarr`).
    src_format, dst_format
        Override recognition (`xsz.convert.FORMATS`; `TARGETS`).
    moves
        A SAM/BAM with move tables, for nanopore sources (see `import_reads`).
    read_ids
        Only these reads: for nanopore sources (all must exist, see
        `import_reads`) and for exports of SZ (`export_pod5`, `export_slow5`,
        `export_fast5`).
    layout, codec
        For a Zarr destination (see `to_zarr`); default ``"reads"``, ``"svb-zstd"``.
    overwrite
        Replace an existing destination of the same format.
    n_threads
        Worker threads of each step.
    checksum
        Give the frames of an SZ store made from nanopore files zstd's content
        checksum (``False``: pysz's exact frames).
    resume
        Take up a killed import of the same nanopore files into `dst` (an SZ
        store), keeping the reads it wrote (see `import_reads`).
    progress
        ``True`` for tqdm bars; a callable gets ``(reads_done, reads_total)``.
    storage_options
        For a URL `dst`: settings of ``obstore.store.from_url`` (by default from
        the environment, ``AWS_ENDPOINT_URL`` ...).

    Returns
    -------
    ConvertSummary

    Raises
    ------
    UsageError
        A direction xsz does not convert, or options that do not apply to it.
    SourceError, SZFormatError, SchemaError, StoreExistsError, ReadNotFoundError
        From the steps, see `import_reads`, `from_zarr`, `to_zarr`, `export_pod5`,
        `export_slow5`, `export_fast5`.

    Examples
    --------
    >>> import numpy as np
    >>> from xsz.format import Schema, SZWriter
    >>> tmp = getfixture("tmp_path")
    >>> with SZWriter(tmp / "a.sz", Schema.build([("ID", str)], [("Raw", np.int16)])) as w:
    ...     w.put("r1", np.arange(4))
    >>> convert(tmp / "a.sz", tmp / "a.zip").steps
    ('sz -> zarr',)
    >>> back = convert(tmp / "a.zip", tmp / "b.sz")
    >>> back.source_format, back.destination_format, back.n_reads
    ('zarr', 'sz', 1)
    """
    start = time.perf_counter()
    source = Path(src)
    local = local_path(dst)
    remote = str(dst).rstrip("/") if local is None else None
    dest = Path(local) if local is not None else Path(str(dst).rstrip("/"))
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file or directory")
    fmt = _source_format(source, src_format)
    out = dst_format or target_format(dest)
    if out not in TARGETS:
        raise UsageError(f"xsz writes {', '.join(TARGETS)}, not {out!r}")
    if remote is not None and out == "pod5":
        raise UsageError(f"xsz writes pod5 files to local paths, not to {remote}")
    if remote is None and storage_options:
        raise UsageError(f"storage_options are for object storage URLs; {dst} is a local path")
    nanopore = fmt in SIGNAL_FORMATS or fmt == "nanopore files"
    if fmt == out:
        raise UsageError(
            f"{source} is already {fmt}: convert changes formats (to copy or select reads of "
            "an SZ store, use xsz subset or xsz merge)"
        )
    if moves is not None and not nanopore:
        raise UsageError(
            f"moves= adds basecalls to imported reads; {source} is {fmt}, not a nanopore file"
        )
    if read_ids is not None and not (nanopore or (fmt == "sz" and out in EXPORTS)):
        raise UsageError(
            f"a selection of reads applies to nanopore sources and to exports of SZ "
            f"({', '.join(EXPORTS)}), not to {fmt} -> {out}"
        )
    if resume and not (nanopore and out == "sz"):
        raise UsageError(
            f"resume=True takes up imports of nanopore files into SZ, not {fmt} -> {out}"
        )
    if out != "zarr" and (layout is not None or codec is not None):
        raise UsageError(f"layout= and codec= apply to Zarr destinations, not to {out}")
    if remote is not None:
        pass  # checked by the writers before anything is uploaded
    elif out == "sz":
        check_replaceable(dest, overwrite)
    else:
        check_destination(dest, overwrite=overwrite, kind=out)

    steps: list[str] = []
    hub = source
    scratch: Staging | None = None
    bars: list[_Bar] = []

    def bar(desc: str) -> bool | Callable[[int, int | None], object]:
        if progress is not True:
            return progress
        for done in bars:  # the step before is over
            done.close()
        bars.append(_Bar(desc))
        return bars[-1]

    try:
        if fmt != "sz":
            hub = dest
            if out != "sz" or (remote is not None and not nanopore):
                if remote is not None:
                    scratch_dir = Path(tempfile.mkdtemp(prefix="xsz-convert-"))
                    scratch = Staging(scratch_dir / "hub", "spool")
                else:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    scratch = Staging(dest, "spool")
                hub = scratch.path / "hub.sz"
            if nanopore:
                n_reads = import_reads(
                    source,
                    remote if remote is not None and out == "sz" else hub,
                    format=fmt if fmt in SIGNAL_FORMATS else None,
                    moves=moves,
                    read_ids=read_ids,
                    overwrite=overwrite and out == "sz",
                    n_threads=n_threads,
                    checksum=checksum,
                    resume=resume and out == "sz",
                    progress=bar(f"{source.name} -> sz"),
                    storage_options=storage_options if out == "sz" else None,
                ).n_reads
            else:
                from xsz.convert._zarr import from_zarr

                n_reads = from_zarr(
                    source,
                    hub,
                    overwrite=overwrite and out == "sz" and remote is None,
                    progress=bar(f"{source.name} -> sz"),
                ).n_reads
                if remote is not None and out == "sz":  # made here, uploaded whole
                    upload_store(hub, remote, storage_options, overwrite=overwrite)
            steps.append(f"{fmt} -> sz")
        if out == "zarr":
            from xsz.convert._zarr import to_zarr

            n_reads = to_zarr(
                hub,
                remote or dest,
                layout=layout or "reads",
                codec=codec or "svb-zstd",
                overwrite=overwrite,
                n_threads=n_threads,
                progress=bar(f"sz -> {dest.name}"),
                storage_options=storage_options,
            ).n_reads
            steps.append("sz -> zarr")
        elif out in EXPORTS:
            exports: dict[str, Callable[..., int]] = {
                "pod5": export_pod5,
                "blow5": export_slow5,
                "slow5": export_slow5,
                "fast5": export_fast5,
            }
            export = exports[out]
            n_reads = export(
                hub,
                dest,
                read_ids=read_ids if fmt == "sz" else None,
                overwrite=overwrite,
                progress=bar(f"sz -> {dest.name}"),
            )
            steps.append(f"sz -> {out}")
    finally:
        for each in bars:
            each.close()
        if scratch is not None:
            scratch.discard()
            if remote is not None:
                shutil.rmtree(scratch.target.parent, ignore_errors=True)
    return ConvertSummary(
        source=source,
        destination=remote or dest,
        source_format=fmt,
        destination_format=out,
        steps=tuple(steps),
        n_reads=n_reads,
        nbytes_source=path_size(source),
        nbytes_destination=path_size(dest) if remote is None else url_size(remote, storage_options),
        seconds=time.perf_counter() - start,
    )
