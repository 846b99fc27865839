"""Nanopore files the tests write themselves, named and shaped like ../shared/data.

`write_data` writes, with each format's own writer (pod5's, pyslow5's, h5py
with the VBZ filter, pysam), the files of ``../shared/data`` that
test_convert_import reads, under the same relative paths, and their
``signal_sample.npz``: the same kinds of file (multi- and single-read FAST5,
gzip and VBZ, FAST5 1.0 and 2.0, pod5, BLOW5 and text SLOW5, SAM move tables
of guppy/buttery-eel and dorado) with the facts the tests state about the real
ones (read counts and IDs, run metadata, signal lengths, basecaller versions),
and synthetic squiggles. test_real_data runs the same tests on the real files.
"""

from __future__ import annotations

import array
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

SQ = "squigualiser"
SAME_TEN = "pod5-file-format/multi_fast5_zip_v3.pod5"
SLOW5_LABELS = [
    "unknown",
    "partial",
    "mux_change",
    "unblock_mux_change",
    "data_service_unblock_mux_change",
    "signal_positive",
    "signal_negative",
]
BATCH0_IDS = [  # ont_fast5_api's test reads: batch0.fast5 and single_reads/<id>.fast5
    "00031f3e-415c-4ab5-9c16-fb6fe45ff519",
    "000c0b4e-46c2-4fb5-9b17-d7031eefb975",
    "000ebd63-3e1a-4499-9ded-26af3225a022",
    "002ad0e4-c6bb-4eff-a30f-5fec01475ab8",
    "002b0891-03bf-4622-ae66-ae6984890ed4",
    "0048058c-ecb4-4a0f-b283-9a128bd598c5",
    "004a87b0-c9f6-4237-b4d6-466ab979aee2",
    "0059d270-3238-4413-b38b-f588e28326df",
]
TWO_READS = {  # squigualiser's r10_hg002_two_reads: ID -> signal length
    "40a8cd14-e5ab-45f9-aef8-90c2742caa49": 2552,
    "35142bde-548d-4f55-bf50-21c4cdd254da": 239_827,
}


@dataclass
class Run:
    """One sequencing run: FAST5's ``tracking_id``/``context_tags`` or SLOW5's header."""

    tracking_id: dict[str, str]
    context_tags: dict[str, str]
    pod5: dict[str, object] = field(default_factory=dict)  # RunInfo fields not derived

    @property
    def run_id(self) -> str:
        return self.tracking_id["run_id"]


@dataclass
class Read:
    """One read, with the fields every format stores."""

    read_id: str
    signal: np.ndarray
    offset: float
    range: float
    digitisation: float
    sampling_rate: float
    channel: int
    well: int
    read_number: int
    start_sample: int
    median_before: float
    end_reason: str
    run: Run

    @property
    def scale(self) -> float:
        return self.range / self.digitisation


def squiggle(rng: np.random.Generator, n: int, center: float, spread: float) -> np.ndarray:
    """Piecewise-constant levels (dwell ~9 samples) around `center`, with noise, as int16."""
    levels = rng.normal(center, spread, n // 9 + 2)
    dwell = rng.geometric(1 / 9, len(levels))
    while dwell.sum() < n:
        dwell *= 2
    signal = np.repeat(levels, dwell)[:n] + rng.normal(0, spread / 8, n)
    return np.clip(np.rint(signal), -4096, 4095).astype(np.int16)


def _f32(x: float) -> float:
    """`x` rounded to the nearest float32, as FAST5 and pod5 calibrations are."""
    return float(np.float32(x))


def _reads(
    rng: np.random.Generator,
    ids: list[str],
    lengths: list[int],
    run: Run,
    *,
    digitisation: float,
    range_: float,
    rate: float,
    end_reasons: list[str],
) -> list[Read]:
    """Reads whose signal sits at 60-100 pA, calibrated as the formats store them."""
    reads = []
    for k, (read_id, n) in enumerate(zip(ids, lengths, strict=True)):
        offset = (
            float(rng.integers(2, 38)) if digitisation == 8192 else -float(rng.integers(100, 250))
        )
        scale = range_ / digitisation
        center = rng.uniform(60, 100) / scale - offset
        reads.append(
            Read(
                read_id=read_id,
                signal=squiggle(rng, n, center, 12 / scale),
                offset=offset,
                range=range_,
                digitisation=digitisation,
                sampling_rate=rate,
                channel=int(rng.integers(1, 3000)),
                well=int(rng.integers(1, 5)),
                read_number=int(rng.integers(1, 100_000)),
                start_sample=int(rng.integers(0, 1 << 30)),
                median_before=_f32(rng.uniform(150, 250)),
                end_reason=end_reasons[k % len(end_reasons)],
                run=run,
            )
        )
    return reads


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    return [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]


def _tracking(run_id: str, flow_cell: str, device_type: str, start: str, **more: str) -> dict:
    return {
        "run_id": run_id,
        "flow_cell_id": flow_cell,
        "device_type": device_type,
        "device_id": more.pop("device_id", "MN00001"),
        "exp_start_time": start,
        "exp_script_name": more.pop("exp_script_name", "sequencing/sequencing_MIN106_DNA"),
        "protocol_group_id": more.pop("protocol_group_id", "TEST_EXPERIMENT"),
        "protocol_run_id": more.pop("protocol_run_id", run_id[:8] + "-protocol"),
        "sample_id": more.pop("sample_id", "TEST_SAMPLE"),
        "version": "3.4.0",
        **more,
    }


# --- writers -------------------------------------------------------------------------


def write_pod5(path: Path, reads: list[Read]) -> None:
    import pod5

    infos = {}
    for read in reads:
        run = read.run
        if run.run_id in infos:
            continue
        t, c = run.tracking_id, run.context_tags
        fields = {
            "acquisition_id": run.run_id,
            "acquisition_start_time": datetime.fromisoformat(t["exp_start_time"]),
            "adc_max": 4095,
            "adc_min": -4096,
            "context_tags": dict(c),
            "experiment_name": t.get("protocol_group_id", ""),
            "flow_cell_id": t.get("flow_cell_id", ""),
            "flow_cell_product_code": t.get("flow_cell_product_code", ""),
            "protocol_name": t.get("exp_script_name", ""),
            "protocol_run_id": t.get("protocol_run_id", ""),
            "protocol_start_time": datetime(1970, 1, 1, tzinfo=UTC),
            "sample_id": t.get("sample_id", ""),
            "sample_rate": int(c["sample_frequency"]),
            "sequencing_kit": c.get("sequencing_kit", ""),
            "sequencer_position": t.get("device_id", ""),
            "sequencer_position_type": t.get("device_type", ""),
            "software": "python-pod5-converter",
            "system_name": "",
            "system_type": "",
            "tracking_id": dict(t),
        }
        infos[run.run_id] = pod5.RunInfo(**(fields | run.pod5))
    path.parent.mkdir(parents=True, exist_ok=True)
    with pod5.Writer(path) as writer:
        for read in reads:
            writer.add_read(
                pod5.Read(
                    read_id=uuid.UUID(read.read_id),
                    pore=pod5.Pore(channel=read.channel, well=read.well, pore_type="not_set"),
                    calibration=pod5.Calibration(offset=read.offset, scale=read.scale),
                    read_number=read.read_number,
                    start_sample=read.start_sample,
                    median_before=read.median_before,
                    end_reason=pod5.EndReason.from_reason_with_default_forced(
                        pod5.EndReasonEnum[read.end_reason.upper()]
                    ),
                    run_info=infos[read.run.run_id],
                    signal=read.signal,
                )
            )


def _ascii(text: str) -> np.bytes_:
    """A fixed-length ASCII string attribute (HDF5 ``H5T_STRING``, ``S<n>``), as ONT writes."""
    return np.bytes_(text.encode())


def _fast5_read(group, read: Read, compression: dict) -> None:
    """The Raw attributes and signal of one read into `group` (/read_<id>/Raw or Read_<n>)."""
    group.attrs["duration"] = np.uint32(len(read.signal))
    group.attrs["median_before"] = np.float64(read.median_before)
    group.attrs["read_id"] = _ascii(read.read_id)
    group.attrs["read_number"] = np.int32(read.read_number)
    group.attrs["start_mux"] = np.uint8(read.well)
    group.attrs["start_time"] = np.uint64(read.start_sample)
    group.create_dataset("Signal", data=read.signal, **compression)


def _fast5_run(group, read: Read) -> None:
    """channel_id, context_tags and tracking_id of one read into `group`."""
    channel = group.create_group("channel_id")
    channel.attrs["channel_number"] = _ascii(str(read.channel))
    for key in ("digitisation", "offset", "range", "sampling_rate"):
        channel.attrs[key] = np.float64(getattr(read, key))
    for name, values in (
        ("context_tags", read.run.context_tags),
        ("tracking_id", read.run.tracking_id),
    ):
        sub = group.create_group(name)
        for key, value in values.items():
            sub.attrs[key] = _ascii(value)


def _compression(kind: str) -> dict:
    if kind == "gzip":
        return {"compression": "gzip", "compression_opts": 1}
    import vbz_h5py_plugin  # noqa: F401  # registers the VBZ filter, id 32020

    return {"compression": 32020, "compression_opts": (0 if kind == "vbz0" else 1, 2, 1, 1)}


def write_fast5_multi(path: Path, reads: list[Read], *, version: str, compression: str) -> None:
    """A multi-read FAST5 file: /read_<id>/Raw, channel_id, context_tags, tracking_id."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["file_version"] = _ascii(version) if version == "1.0" else version
        for read in reads:
            group = f.create_group(f"read_{read.read_id}")
            group.attrs["run_id"] = _ascii(read.run.run_id)
            group.attrs["pore_type"] = _ascii("not_set")
            _fast5_read(group.create_group("Raw"), read, _compression(compression))
            _fast5_run(group, read)


def write_fast5_single(path: Path, read: Read) -> None:
    """A single-read FAST5 file: /Raw/Reads/Read_<n> and /UniqueGlobalKey."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["file_version"] = np.float64(2.0)
        raw = f.create_group(f"Raw/Reads/Read_{read.read_number}")
        _fast5_read(raw, read, _compression("vbz1"))
        _fast5_run(f.create_group("UniqueGlobalKey"), read)


def write_slow5(path: Path, reads: list[Read]) -> None:
    """A BLOW5 (zlib records, svb-zd signals) or SLOW5 file of one read group."""
    import pyslow5

    path.parent.mkdir(parents=True, exist_ok=True)
    press = {"rec_press": "zlib", "sig_press": "svb_zd"} if path.suffix == ".blow5" else {}
    out = pyslow5.Open(str(path), "w", **press)
    empty, _ = out.get_empty_header(aux=True)
    run = reads[0].run
    header = dict.fromkeys(empty, "unknown") | run.tracking_id | run.context_tags
    out.write_header(header, end_reason_labels=SLOW5_LABELS)
    for read in reads:
        record, aux = out.get_empty_record(aux=True)
        record.update(
            read_id=read.read_id,
            read_group=0,
            digitisation=float(read.digitisation),
            offset=float(read.offset),
            range=float(read.range),
            sampling_rate=float(read.sampling_rate),
            len_raw_signal=len(read.signal),
            signal=read.signal,
        )
        aux.update(
            channel_number=str(read.channel),
            median_before=float(read.median_before),
            read_number=int(read.read_number),
            start_mux=int(read.well),
            start_time=int(read.start_sample),
            end_reason=SLOW5_LABELS.index(read.end_reason),
        )
        if out.write_record(record, aux) != 0:  # pyslow5 logs its errors, it raises none
            raise OSError(f"pyslow5 could not write read {read.read_id} to {path}")
    out.close()


def _call(rng: np.random.Generator, read: Read, trimmed: int, stride: int = 5):
    """A move table that fits the signal, and its bases and qualities."""
    n_moves = (len(read.signal) - trimmed) // stride
    moves = (rng.random(n_moves) < 0.3).astype(np.int8)
    moves[0] = 1
    n_bases = int(moves.sum())
    bases = "".join(rng.choice(list("ACGT"), n_bases))
    qualities = rng.integers(2, 40, n_bases).astype(np.uint8)
    return moves, bases, qualities


def write_sam(path: Path, header: dict, reads: list[Read], rng, *, tags: dict) -> None:
    """Unaligned records with move tables: mv:B:c (stride 5), qs, and `tags` (callables)."""
    import pysam

    path.parent.mkdir(parents=True, exist_ok=True)
    with pysam.AlignmentFile(str(path), "w", header=header) as out:
        for read in reads:
            trimmed = tags["ts"](read) if "ts" in tags else 0
            moves, bases, qualities = _call(rng, read, trimmed)
            rec = pysam.AlignedSegment(out.header)
            rec.query_name = read.read_id
            rec.flag = 4
            rec.query_sequence = bases
            rec.query_qualities = array.array("B", qualities.tolist())
            rec.set_tag("mv", array.array("b", [5, *moves.tolist()]))
            rec.set_tag("qs", int(rng.integers(7, 20)), value_type="i")
            for tag, value in tags.items():
                rec.set_tag(tag, value(read), value_type="i")
            out.write(rec)


# --- the files of ../shared/data -------------------------------------------------------


def _runs() -> dict[str, Run]:
    zymo = "c6df34f043d40f6f45debe33276597a09b8a14a6"
    return {
        "test": Run(
            _tracking(
                "a08e850aaa44c8b56765eee10b386fc3e516a62b",
                "",
                "minion",
                "2019-05-13T11:11:43+00:00",
                device_id="MS00000",
            ),
            {"sample_frequency": "4000", "sequencing_kit": "sqk-lsk108", "package": "bream4"},
            {"experiment_name": ""},
        ),
        "zymo": Run(
            _tracking(
                zymo,
                "FAW84365",
                "gridion",
                "2023-06-02T14:12:59.057000+00:00",
                device_id="X1",
                flow_cell_product_code="FLO-MIN114",
                protocol_group_id="2023-06-02_np_FAW84365",
                sample_id="zymo_hmw_mock_5khz",
            ),
            {"sample_frequency": "5000", "sequencing_kit": "sqk-lsk114", "package": "bream4"},
            {"software": "MinKNOW 23.04.5", "system_type": "GridION X5 Mk1"},
        ),
        **{
            f"fc{k}": Run(
                _tracking(f"{k}a83948539f27c88b2bd39a499e26cfa553e7ed{k}", fc, "minion", start),
                {"sample_frequency": "4000", "sequencing_kit": "sqk-lsk109"},
            )
            for k, (fc, start) in enumerate(
                [
                    ("FAK24794", "2018-10-24T16:55:04+00:00"),
                    ("FAK11111", "2018-10-25T09:01:00+00:00"),
                    ("FAK22222", "2018-11-02T12:30:00+00:00"),
                    ("FAK33333", "2018-11-09T08:15:00+00:00"),
                ]
            )
        },
        **{
            name: Run(
                _tracking(run_id, fc, "promethion", "2022-09-13T15:34:52+00:00", device_id="4C"),
                {"sample_frequency": str(rate), "sequencing_kit": kit, "experiment_type": kind},
            )
            for name, run_id, fc, rate, kit, kind in [
                ("r9", "b1" * 20, "PAF25452", 4000, "sqk-lsk109", "genomic_dna"),
                (
                    "r10",
                    "dc60b20f5078b3546ded810fb828b49c438fbd89",
                    "PAM96112",
                    4000,
                    "sqk-lsk114",
                    "genomic_dna",
                ),
                ("f5c", "c2" * 20, "PAM12345", 4000, "sqk-lsk114", "genomic_dna"),
                ("rna", "d3" * 20, "FAL11389", 3012, "sqk-rna002", "rna"),
            ]
        },
    }


def write_data(root: Path) -> Path:
    """The files of ../shared/data that the tests read, made here, under `root`."""
    rng = np.random.default_rng(20261205)
    runs = _runs()
    ten = _reads(  # in ID order, as HDF5 lists the groups of a FAST5 file
        rng,
        sorted(_uuids(rng, 10)),
        rng.integers(800, 4000, 10).tolist(),
        runs["test"],
        digitisation=8192,
        range_=_f32(1437.7),
        rate=4000,
        end_reasons=["unknown"],
    )
    ten[1].signal[501:503] = [-4096, 4095]  # the ADC rails, next to each other
    write_pod5(root / SAME_TEN, ten)
    write_fast5_multi(
        root / "pod5-file-format/multi_fast5_zip.fast5", ten, version="1.0", compression="gzip"
    )
    write_fast5_multi(
        root / "vbz_compression/multi_fast5_vbz.fast5", ten, version="1.0", compression="vbz0"
    )

    batch = []
    for k, read_id in enumerate(BATCH0_IDS):
        batch += _reads(
            rng,
            [read_id],
            [int(rng.integers(800, 3000))],
            runs[f"fc{k % 4}"],
            digitisation=8192,
            range_=_f32(1490.9),
            rate=4000,
            end_reasons=["unknown"],
        )
    write_fast5_multi(root / "ont_fast5_api/batch0.fast5", batch, version="2.0", compression="vbz1")
    for read in batch:
        write_fast5_single(root / f"ont_fast5_api/single_reads/{read.read_id}.fast5", read)

    z1 = _reads(
        rng,
        _uuids(rng, 3),
        [21_734, 78_129, 2_219_753],
        runs["zymo"],
        digitisation=8192,
        range_=_f32(1917.0),
        rate=5000,
        end_reasons=["signal_positive", "signal_positive", "unblock_mux_change"],
    )
    write_pod5(root / "blue-crab/z1.pod5", z1)

    r9 = _reads(
        rng,
        _uuids(rng, 40),
        rng.integers(600, 3000, 40).tolist(),
        runs["r9"],
        digitisation=2048,
        range_=_f32(748.58),
        rate=4000,
        end_reasons=["signal_positive", "unblock_mux_change", "signal_negative"],
    )
    write_slow5(root / f"{SQ}/r9.4_450bps/reads.blow5", r9)
    guppy = {
        "HD": {"VN": "1.5", "SO": "unknown"},
        "PG": [
            {"ID": "basecaller", "PN": "guppy", "VN": "6.3.7"},
            {
                "ID": "wrapper",
                "PN": "buttery-eel",
                "VN": "0.2.3",
                "CL": "buttery-eel -i reads.blow5",
            },
        ],
    }
    write_sam(
        root / f"{SQ}/r9.4_450bps/moves.sam",
        guppy,
        r9,
        rng,
        tags={"ns": lambda r: len(r.signal), "ts": lambda r: int(len(r.signal) % 97)},
    )

    f5c = _reads(
        rng,
        _uuids(rng, 7),
        rng.integers(500, 2500, 7).tolist(),
        runs["f5c"],
        digitisation=2048,
        range_=_f32(281.345551),
        rate=4000,
        end_reasons=["signal_positive", "data_service_unblock_mux_change"],
    )
    write_slow5(root / f"{SQ}/r10_f5c_eventalign/reads.blow5", f5c)
    rna = _reads(
        rng,
        _uuids(rng, 5),
        rng.integers(500, 2500, 5).tolist(),
        runs["rna"],
        digitisation=8192,
        range_=_f32(1212.97),
        rate=3012,
        end_reasons=["signal_positive"],
    )
    write_slow5(root / f"{SQ}/rna_r9.4.1_70bps/reads.blow5", rna)

    two = _reads(
        rng,
        list(TWO_READS),
        list(TWO_READS.values()),
        runs["r10"],
        digitisation=2048,
        range_=281.345551,  # text SLOW5 keeps 6 decimals
        rate=4000,
        end_reasons=["unblock_mux_change", "signal_positive"],
    )
    folder = root / f"{SQ}/r10_hg002_two_reads"
    write_slow5(folder / "reads.slow5", two)
    eel = {
        "HD": {"VN": "1.5", "SO": "unknown"},
        "PG": [
            {"ID": "basecaller", "PN": "guppy", "VN": "6.3.7"},
            {"ID": "wrapper", "PN": "buttery-eel", "VN": "0.2.0", "DS": "guppy wrapper"},
        ],
    }
    write_sam(folder / "buttery_eel.sam", eel, two[::-1], rng, tags={"NM": lambda r: 0})
    dorado = {
        "HD": {"VN": "1.6", "SO": "unknown"},
        "SQ": [{"SN": "chrUn_GL000216v2", "LN": 176608}],
        "PG": [{"ID": "basecaller", "PN": "dorado", "VN": "0.2.1+d6f59e9"}],
    }
    write_sam(
        folder / "slow5-dorado.sam",
        dorado,
        two,
        rng,
        tags={"ns": lambda r: len(r.signal), "ts": lambda r: 10, "ch": lambda r: r.channel},
    )

    unique = {r.read_id: r for r in ten + batch + z1 + r9 + f5c + rna + two}
    reads = list(unique.values())
    np.savez(
        root / "signal_sample.npz",
        read_id=np.array([r.read_id for r in reads]),
        signal=np.concatenate([r.signal for r in reads]),
        offsets=np.cumsum([0] + [len(r.signal) for r in reads]),
        **{
            key: np.array([float(getattr(r, key)) for r in reads])
            for key in ("offset", "range", "digitisation", "scale", "sampling_rate")
        },
    )
    return root
