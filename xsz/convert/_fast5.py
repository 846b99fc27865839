"""Reads of a FAST5 file (multi-read or single-read, gzip or VBZ), through ``h5py``.

VBZ-compressed signals need the HDF5 filter of ``vbz-h5py-plugin``, which is
registered (imported) before the first file is opened.

========================  =========================  =========================================
layout                    read groups                run groups (channel, tracking, context)
========================  =========================  =========================================
multi-read (FAST5 >= 1)   ``/read_<id>/Raw``          ``/read_<id>/channel_id``, ``tracking_id``,
                                                     ``context_tags``
single-read               ``/Raw/Reads/Read_<n>``     ``/UniqueGlobalKey/channel_id`` ...
========================  =========================  =========================================
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.convert._extras import load
from xsz.convert._read_fields import (
    POD5_READ_FIELDS,
    UNKNOWN_END_REASON,
    SourceRead,
    as_text,
    run_info,
)
from xsz.convert._read_fields import pore_type as as_pore_type
from xsz.errors import SourceError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Fast5Source"]

_RAW_FLOATS: Final = tuple(n for n, code, _ in POD5_READ_FIELDS if code.startswith("F"))


class Fast5Source:
    """One FAST5 file, open for reading.

    Parameters
    ----------
    path
        The file, multi-read or single-read.
    """

    format = "fast5"

    def __init__(self, path: Path) -> None:
        self.path = path
        h5py = load("h5py", "reading FAST5 files", "vbz_h5py_plugin")
        self._h5py = h5py
        try:
            self._file = h5py.File(path, "r")
        except OSError as exc:
            raise SourceError(f"{path}: h5py cannot open this FAST5 file: {exc}") from exc
        try:
            self._reads = self._find_reads()
            self._runs: dict[str, dict[str, Any]] = {}
            self._run_ids = [self._run_of(shared) for _, _, shared in self._reads]
        except SourceError:
            self.close()
            raise
        except (OSError, KeyError, ValueError) as exc:
            self.close()
            raise SourceError(f"{path}: cannot read the FAST5 layout: {exc}") from exc

    def close(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()
            self._file = None

    def _find_reads(self) -> list[tuple[str, str, str]]:
        """``(read ID, read group, group holding channel_id/tracking_id)`` per read."""
        f = self._file
        keys = list(f.keys())
        multi = [k for k in keys if k.startswith("read_")]
        if multi:
            return [(k.removeprefix("read_"), f"{k}/Raw", k) for k in multi]
        if "Raw" in f and "Reads" in f["Raw"]:
            out = []
            for name in f["Raw/Reads"]:
                group = f"Raw/Reads/{name}"
                out.append((as_text(f[group].attrs["read_id"]), group, "UniqueGlobalKey"))
            return out
        raise SourceError(
            f"{self.path} is an HDF5 file but not FAST5: it has neither read_<id> groups "
            f"nor /Raw/Reads (top-level groups: {keys[:5]})"
        )

    def _run_of(self, shared: str) -> str:
        tracking = self._file.get(f"{shared}/tracking_id")
        if tracking is None:
            return ""
        run_id = as_text(tracking.attrs.get("run_id", b""))
        if run_id not in self._runs:
            context = self._file.get(f"{shared}/context_tags")
            self._runs[run_id] = run_info(
                tracking_id=dict(tracking.attrs),
                context_tags=dict(context.attrs) if context is not None else {},
            )
        return run_id

    def runs(self) -> dict[str, dict[str, Any]]:
        """Run metadata by run ID (``tracking_id/run_id``)."""
        return self._runs

    def read_ids(self) -> list[str]:
        """Every read ID, in file order."""
        return [read_id for read_id, _, _ in self._reads]

    def count(self) -> int:
        return len(self._reads)

    def reads(self, selection: frozenset[str] | None = None) -> Iterator[SourceRead]:
        """The reads in file order (only those in `selection` when given)."""
        for (read_id, group, shared), run_id in zip(self._reads, self._run_ids, strict=True):
            if selection is not None and read_id not in selection:
                continue
            try:
                yield self._read(read_id, group, shared, run_id)
            except (OSError, KeyError, ValueError) as exc:
                raise SourceError(
                    f"{self.path}: cannot read read {read_id!r} ({group}): {exc}"
                ) from exc

    def _read(self, read_id: str, group: str, shared: str, run_id: str) -> SourceRead:
        f = self._file
        raw = f[group]
        attrs = raw.attrs
        stored_id = as_text(attrs.get("read_id", read_id.encode()))
        if stored_id != read_id:
            raise SourceError(
                f"{self.path}: group {group} holds read {stored_id!r}, not {read_id!r}"
            )
        channel = f[f"{shared}/channel_id"].attrs
        digitisation = float(channel["digitisation"])
        signal_range = float(channel["range"])
        return SourceRead(
            read_id=read_id,
            signal=self._signal(raw["Signal"], read_id),
            offset=float(channel["offset"]),
            scale=signal_range / digitisation,
            range=signal_range,
            digitisation=digitisation,
            sampling_rate=float(channel["sampling_rate"]),
            channel=int(as_text(channel["channel_number"])),
            well=int(attrs.get("start_mux", -1)),
            read_number=int(attrs.get("read_number", -1)),
            start_sample=float(attrs.get("start_time", math.nan)),
            median_before=float(attrs.get("median_before", math.nan)),
            end_reason=self._end_reason(raw),
            run_id=run_id,
            pore_type=as_pore_type(f[shared].attrs.get("pore_type")),
            end_reason_forced=int(attrs.get("end_reason_forced", -1)),
            **{
                name: float(attrs[name])
                for name in _RAW_FLOATS
                if name in attrs  # written by xsz's FAST5 export (export_fast5)
            },
        )

    def _signal(self, dataset: Any, read_id: str) -> np.ndarray[Any, np.dtype[np.int16]]:
        try:
            values = dataset[()]
        except OSError as exc:
            raise SourceError(
                f"{self.path}: cannot decode the signal of read {read_id!r} ({exc}); VBZ "
                "signals need vbz-h5py-plugin"
            ) from exc
        if values.dtype == np.int16:
            return values  # type: ignore[no-any-return]
        if values.dtype.kind in "iu" and (
            not values.size or (values.min() >= -(2**15) and values.max() < 2**15)
        ):
            return values.astype(np.int16)  # type: ignore[no-any-return]
        raise SourceError(
            f"{self.path}: read {read_id!r} has a {values.dtype} signal that does not fit int16"
        )

    def _end_reason(self, raw: Any) -> str:
        if "end_reason" not in raw.attrs:
            return UNKNOWN_END_REASON
        value = raw.attrs["end_reason"]
        labels = self._h5py.check_enum_dtype(raw.attrs.get_id("end_reason").dtype)
        if labels:
            names = {int(v): k for k, v in labels.items()}
            return str(names.get(int(value), UNKNOWN_END_REASON)).lower()
        return as_text(value).lower()
