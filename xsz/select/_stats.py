"""Per-read and whole-store summaries of a store's signal: samples, N50, duration,
mean and standard deviation in picoamperes (or raw units without calibration)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz._progress import progress_counter
from xsz.mapping import CALIBRATIONS

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from xsz.format import SZReader

__all__ = ["SAMPLE_RATES", "ReadStats", "StoreStats", "n50", "read_stats", "signal_dataset"]

SAMPLE_RATES: Final = ("sampling_rate", "sample_rate", "sample_frequency", "Sample_rate")
"""Per-read attributes giving samples per second, tried in this order."""

STATS_BATCH: Final = 256
"""Reads decoded at a time."""


def signal_dataset(reader: SZReader) -> str | None:
    """The dataset holding the raw signal: ``Raw``, else the first integer dataset."""
    datasets = [f for f in reader.schema.datasets if not f.is_text]
    for f in datasets:
        if f.name == "Raw":
            return f.name
    return next((f.name for f in datasets if f.dtype.kind in "iu"), None)


def n50(lengths: npt.NDArray[np.integer[Any]]) -> int:
    """The length L such that reads of length >= L hold at least half of all samples.

    Examples
    --------
    >>> n50(np.array([2, 3, 4, 5, 6]))  # 6 + 5 = 11 >= 20 / 2
    5
    """
    if not len(lengths) or not lengths.sum():
        return 0
    ordered = np.sort(lengths)[::-1]
    half = ordered.sum() / 2
    return int(ordered[np.searchsorted(np.cumsum(ordered), half)])


@dataclass
class ReadStats:
    """Per-read statistics, one value per read in row order.

    ``duration`` is NaN without a sampling-rate attribute, ``mean``/``sd`` NaN for
    a read without samples. With `calibrated`, ``mean`` and ``sd`` are in pA.
    """

    ids: np.ndarray[Any, Any]
    samples: npt.NDArray[np.int64]
    duration: npt.NDArray[np.float64]
    mean: npt.NDArray[np.float64]
    sd: npt.NDArray[np.float64]


@dataclass
class StoreStats:
    """A whole store summarised (`read_stats`)."""

    n_reads: int
    dataset: str | None
    samples: dict[str, float] = field(default_factory=dict)
    """``total``, ``mean``, ``median``, ``N50``, ``min``, ``max`` of samples per read."""
    duration: dict[str, float] | None = None
    """``total``, ``mean`` in seconds; ``None`` without a sampling-rate attribute."""
    rate_attribute: str | None = None
    calibration: str | None = None
    """The rule of `CALIBRATIONS` used, ``None`` when `signal` is in raw units."""
    signal: dict[str, float] | None = None
    """``mean`` and ``sd`` over every sample of every read (pA when calibrated)."""
    per_read: ReadStats | None = None

    def rows(self) -> list[tuple[str, str]]:
        """The summary as ``(name, value)`` pairs, for a TSV or a table."""
        out = [("reads", f"{self.n_reads}")]
        if self.dataset is not None:
            out.append(("dataset", self.dataset))
            out += [
                (f"samples_{k}", f"{v:g}" if k == "mean" else f"{int(v)}")
                for k, v in self.samples.items()
            ]
        if self.duration is not None:
            out += [(f"duration_{k}_s", f"{v:.6g}") for k, v in self.duration.items()]
        if self.signal is not None:
            unit = "pA" if self.calibration else "raw"
            out += [(f"{unit}_{k}", f"{v:.6g}") for k, v in self.signal.items()]
        return out


def _calibration(
    reader: SZReader,
) -> tuple[str, npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    names = {f.name for f in reader.schema.attributes if not f.is_text}
    for fields, rule in CALIBRATIONS:
        if all(n in names for n in fields):
            values = [reader.index.attribute(n).astype(np.float64) for n in fields]
            scale = values[1] / values[2] if len(values) == 3 else values[1]
            return rule, values[0], scale
    return None


def read_stats(
    reader: SZReader,
    *,
    rows: npt.NDArray[np.int64] | None = None,
    signal: bool = True,
    n_threads: int = 1,
    progress: bool | Callable[[int, int | None], object] = False,
) -> StoreStats:
    """Summarise the reads `rows` of `reader` (default: all): samples per read
    (from the index), durations (with a `SAMPLE_RATES` attribute) and, with
    `signal`, each read's mean and standard deviation, in pA when a
    `CALIBRATIONS` rule applies (decoding every read, a batch at a time by
    `n_threads` threads).

    The store-wide mean and sd pool every sample of every read.
    """
    chosen = np.arange(len(reader)) if rows is None else reader.check_rows(rows)
    n = len(chosen)
    name = signal_dataset(reader)
    out = StoreStats(n_reads=n, dataset=name)
    ids = reader.ids[chosen]
    if name is None:
        return out
    counts = reader.counts(name).astype(np.int64)[chosen]
    out.samples = {
        "total": float(counts.sum()),
        "mean": float(counts.mean()) if n else 0.0,
        "median": float(np.median(counts)) if n else 0.0,
        "N50": float(n50(counts)),
        "min": float(counts.min()) if n else 0.0,
        "max": float(counts.max()) if n else 0.0,
    }
    duration = np.full(n, np.nan)
    attributes = {f.name for f in reader.schema.attributes if not f.is_text}
    rate = next((a for a in SAMPLE_RATES if a in attributes), None)
    if rate is not None:
        with np.errstate(all="ignore"):
            duration = counts / reader.index.attribute(rate)[chosen].astype(np.float64)
        out.rate_attribute = rate
        out.duration = {
            "total": float(np.nansum(duration)),
            "mean": float(np.nanmean(duration)) if n else 0.0,
        }
    mean, sd = np.full(n, np.nan), np.full(n, np.nan)
    if signal and n:
        calibration = _calibration(reader)
        offset, scale = (
            (np.zeros(n), np.ones(n))
            if calibration is None
            else (calibration[1][chosen], calibration[2][chosen])
        )
        out.calibration = None if calibration is None else calibration[0]
        update = progress_counter(progress, n, "stats")
        for start in range(0, n, STATS_BATCH):
            batch = np.arange(start, min(start + STATS_BATCH, n))
            part = counts[batch]
            values = np.empty(int(part.sum()), dtype=reader.schema[name].dtype)
            reader.read_into(name, chosen[batch], values, n_threads=n_threads)
            raw_mean, raw_sd = _moments(values.astype(np.float64), part)
            mean[batch] = (raw_mean + offset[batch]) * scale[batch]
            sd[batch] = raw_sd * np.abs(scale[batch])
            update(len(batch))
        has = counts > 0
        if has.any():
            w = counts[has].astype(np.float64)
            total_mean = float(np.sum(w * mean[has]) / w.sum())
            variance = np.sum(w * (sd[has] ** 2 + (mean[has] - total_mean) ** 2)) / w.sum()
            out.signal = {"mean": total_mean, "sd": float(np.sqrt(variance))}
    out.per_read = ReadStats(ids, counts, duration, mean, sd)
    return out


def _moments(
    values: npt.NDArray[np.float64], counts: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each read's mean and population sd, its samples being `counts` runs of `values`."""
    mean = np.full(len(counts), np.nan)
    sd = np.full(len(counts), np.nan)
    has = counts > 0
    if not has.any():
        return mean, sd
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[has]
    sums = np.add.reduceat(values, starts)
    mean[has] = sums / counts[has]
    centred = values - np.repeat(np.nan_to_num(mean), counts)
    sd[has] = np.sqrt(np.add.reduceat(centred * centred, starts) / counts[has])
    return mean, sd
