"""Whole reads as text: one TSV line per read (every attribute and dataset in full),
and FASTQ records of basecalled reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.errors import RecordError, UsageError
from xsz.select._columns import format_values

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    import numpy.typing as npt

    from xsz.format import SZReader

__all__ = ["FASTQ_DATASETS", "FastqCount", "fastq_records", "record_lines"]

RECORD_BATCH: Final = 64
"""Reads decoded at a time."""

FASTQ_DATASETS: Final = (("Sequence", "Quality"), ("sequence", "quality"))
"""The text datasets of bases and qualities (``import_reads(moves=...)`` writes the
first pair), tried in order; a ``Fastq`` dataset of whole FASTQ records also works."""

_ESCAPES: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iu":
            return ",".join(map(str, value.tolist()))
        return ",".join(format_values(value))
    return format_values(np.asarray([value]))[0]


def record_lines(
    reader: SZReader,
    rows: npt.NDArray[np.int64],
    names: Sequence[str] | None = None,
    *,
    header: bool = True,
    n_threads: int = 1,
) -> Iterator[str]:
    """Each read of `rows` whole, one TSV line per read: every attribute, then the
    datasets `names` (default all) in full, numbers comma-separated (as SLOW5
    writes ``raw_signal``), text with ``\\``, TAB, LF and CR escaped as ``\\\\``,
    ``\\t``, ``\\n``, ``\\r``. The first line names the columns."""
    fields = [f.name for f in reader.schema.attributes]
    datasets = [f.name for f in reader.schema.datasets] if names is None else list(names)
    if header:
        yield "\t".join(fields + datasets) + "\n"
    for start in range(0, len(rows), RECORD_BATCH):
        part = rows[start : start + RECORD_BATCH]
        for read in reader.read_many(part, datasets, n_threads=n_threads):
            yield "\t".join(_cell(read[k]) for k in fields + datasets) + "\n"


@dataclass
class FastqCount:
    """Reads written as FASTQ, and reads skipped because they had no bases."""

    written: int = 0
    skipped: int = 0


def _fastq_fields(reader: SZReader) -> tuple[str, str | None]:
    text = {f.name for f in reader.schema.datasets if f.is_text}
    for bases, quals in FASTQ_DATASETS:
        if bases in text and quals in text:
            return bases, quals
    if "Fastq" in text:
        return "Fastq", None
    have = ", ".join(f.name for f in reader.schema.datasets) or "none"
    raise UsageError(
        f"{reader.path} has no basecalls: FASTQ needs text datasets Sequence and Quality "
        f"(an import with a SAM/BAM of basecalls writes them: xsz convert ... --moves "
        f"calls.bam) or Fastq; its datasets: {have}"
    )


def fastq_records(
    reader: SZReader, rows: npt.NDArray[np.int64], count: FastqCount, *, n_threads: int = 1
) -> Iterator[str]:
    """FASTQ records (``@ID``, bases, ``+``, qualities) of the basecalled reads of
    `rows`; reads without bases are skipped and counted in `count`.

    Raises
    ------
    UsageError
        The store has no ``Sequence``/``Quality`` (or ``Fastq``) datasets.
    RecordError
        A read whose qualities are not as long as its bases, or whose ``Fastq``
        value is not a FASTQ record.
    """
    bases, quals = _fastq_fields(reader)
    ids = reader.ids
    for start in range(0, len(rows), RECORD_BATCH):
        part = rows[start : start + RECORD_BATCH]
        names = [bases] if quals is None else [bases, quals]
        out = []
        for row, read in zip(
            part.tolist(), reader.read_many(part, names, n_threads=n_threads), strict=True
        ):
            seq = read[bases]
            if not seq:
                count.skipped += 1
                continue
            if quals is None:
                if not (seq.startswith("@") and len(seq.splitlines()) == 4):
                    raise RecordError(
                        f"{reader.path}: read {ids[row]!r}: its Fastq value is not a FASTQ "
                        f"record (@name, bases, +, qualities): {seq[:40]!r}",
                        read_id=ids[row],
                        field=bases,
                    )
                out.append(seq.rstrip("\n") + "\n")
            else:
                qual = read[quals]
                if len(qual) != len(seq):
                    raise RecordError(
                        f"{reader.path}: read {ids[row]!r} has {len(seq)} bases but "
                        f"{len(qual)} qualities",
                        read_id=ids[row],
                        field=quals,
                    )
                out.append(f"@{ids[row]}\n{seq}\n+\n{qual}\n")
            count.written += 1
        yield "".join(out)
