"""Test data the tests make themselves, shaped like ../shared's.

`write_sz_fixtures` writes, with xsz's own writer, four SZ stores named and
shaped like the original pysz 0.4.0 fixtures of ``../shared/fixtures/pysz-0.4.0``
(``basic``, ``alltypes``, ``signal_int16``, ``empty``: the same schemas,
headers, read counts and kinds of edge cases, shorter reads), each with an
``X.expected.npz`` in that README's layout, made from the values handed to the
writer. The tests that read the pysz fixtures take their directory from the
``sz_fixtures`` fixture: these stores here, the pysz ones in test_pysz_compat.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from xsz.format import Schema, SZWriter

if TYPE_CHECKING:
    from pathlib import Path

CODES = {
    "S": str,
    "I16": np.int16,
    "I32": np.int32,
    "U16": np.uint16,
    "U32": np.uint32,
    "F16": np.float16,
    "F32": np.float32,
    "F64": np.float64,
    "F128": np.longdouble,
}
NUMERIC = ["I16", "I32", "U16", "U32", "F16", "F32", "F64", "F128"]
TINY_F128 = np.finfo(np.longdouble).smallest_subnormal
BIG = np.finfo(np.longdouble).max  # 1.19e4932, far beyond float64
BASIC_HEADER = {"version": "0.0.1", "date": "2023-04-03"}
BASIC_ATTRS = [("ID", "S"), ("Offset", "I32"), ("Raw_unit", "F32")]
BASIC_DATASETS = [("Raw", "U32"), ("Fastq", "S"), ("Move", "U16")]

# --- SZ stores like the pysz fixtures -----------------------------------------------


def _acgt(rng: np.random.Generator, n: int) -> str:
    return "".join(rng.choice(list("ACGT"), n)) if n else ""


def _basic(n: int) -> list[tuple]:
    """pysz's README schema: Raw U32 (70..149), Fastq, Move (0/1); 4 empty Fastq."""
    rng = np.random.default_rng(1)
    records = []
    for k in range(n):
        m = int(rng.integers(8, 90))
        fastq = "" if k in (5, 77, 150, 299) else _acgt(rng, int(rng.integers(1, 40)))
        records.append(
            (
                f"read_{k:05d}_{rng.integers(1 << 32):08x}",
                int(rng.integers(-1000, 200_000)),
                float(rng.random() * 0.3),
                rng.integers(70, 150, m).astype(np.uint32),
                fastq,
                (rng.random(m // 5) < 0.3).astype(np.uint16),
            )
        )
    return records


def _signal(n: int) -> list[tuple]:
    """Squiggles (levels with a dwell of ~9 samples, noise, rare spikes), one read empty."""
    rng = np.random.default_rng(2)
    records = []
    for k in range(n):
        m = 0 if k == 17 else int(rng.lognormal(5, 0.6))
        levels = np.repeat(rng.normal(550, 80, m // 9 + 1), 9)[:m]
        signal = levels + rng.normal(0, 9, m)
        signal[rng.random(m) < 0.002] += 300
        records.append((f"sig_{k:04d}", np.clip(signal, 300, 900).astype(np.int16)))
    return records


def _typed(code: str, values: object) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.array(values, dtype=CODES[code])


def _edge_datasets(big: bool) -> dict[str, list]:
    """Each dtype's extremes next to each other (the int32 deltas overflow), floats' specials."""
    s16, s32 = (-32768, 32767), (-(2**31), 2**31 - 1)
    floats = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0]
    out = {
        "I16": [s16[0], s16[1], s16[0], 0, s16[1]],
        "I32": [s32[0], s32[1], s32[0], s32[1], 0, -1],
        "U16": [0, 65535, 1, 65535, 0],
        "U32": [0, 255, 256, 65535, 65536, 2**24 - 1, 2**24, 2**32 - 1],
    }
    for code in ("F16", "F32", "F64", "F128"):
        info = np.finfo(CODES[code])
        out[code] = [*floats, info.tiny, info.smallest_subnormal, info.max, -info.max]
    out["F128"] += [np.longdouble("1e4000"), np.longdouble("-2.5e-4000")]
    if not big:
        out = {code: values[::-1] for code, values in out.items()}
    return out


def _alltypes() -> tuple[Schema, list[tuple]]:
    """One attribute and one dataset of every type: 15 edge cases, then 40 random reads."""
    attrs = [("ID", "S")] + [(f"a_{c.lower()}", c) for c in NUMERIC] + [("a_str", "S")]
    datasets = [("d_str", "S")] + [(f"d_{c.lower()}", c) for c in NUMERIC]
    schema = Schema.build([(n, CODES[c]) for n, c in attrs], [(n, CODES[c]) for n, c in datasets])
    rng = np.random.default_rng(3)

    def record(rid, attr_values, text, arrays):
        return (
            rid,
            *(_typed(c, [v])[0] for c, v in zip(NUMERIC, attr_values[:8], strict=True)),
            attr_values[-1],
            text,
            *(_typed(c, a) for c, a in zip(NUMERIC, arrays, strict=True)),
        )

    ones = [1, 1, 1, 1, 1.0, 1.0, 1.0, 1.0]
    third = np.longdouble(1) / 3
    records = [
        record("edge_empty", [0] * 8 + [""], "", [[]] * 8),
        record(
            "edge_extremes",
            [-32768, -(2**31), 0, 0, -65504.0, -3.4028235e38, -1.7976931348623157e308, -BIG, "min"],
            "TAB\there LF\nthere CRLF\r\nNUL\x00end",
            list(_edge_datasets(False).values()),
        ),
        record(
            "edge_max",
            [
                32767,
                2**31 - 1,
                65535,
                2**32 - 1,
                65504.0,
                3.4028235e38,
                1.7976931348623157e308,
                BIG,
                "max",
            ],
            "\t\n\r\n",
            list(_edge_datasets(True).values()),
        ),
        record(
            "edge_nan_attrs",
            [1, 2, 3, 4, np.nan, np.inf, -np.inf, np.longdouble("nan"), "nan"],
            "nan",
            [[1], [2], [3], [4], [np.nan], [np.inf], [-np.inf], [np.nan]],
        ),
        record(
            "edge_small_floats",
            [0, 0, 0, 0, 6e-8, 1e-45, 5e-324, np.finfo(np.longdouble).tiny, "tiny"],
            "small",
            [[0]] * 4 + [[6e-8, -6e-8], [1e-45, 1e-40], [5e-324, 2e-308], [TINY_F128 * 1000]],
        ),
        record(
            "edge_precision",
            [0, 0, 0, 0, 0.1, 0.1, 1 / 3, third, "0.1 and 1/3"],
            "precision",
            [[0]] * 4 + [[0.1, 1 / 3]] * 3 + [[np.longdouble("0.1"), third]],
        ),
    ]
    for n in range(1, 10):  # lengths that are no multiple of 4
        arrays = [rng.integers(0, 100, n) for _ in range(4)]
        arrays += [rng.normal(0, 100, n) for _ in range(4)]
        records.append(record(f"edge_len_{n}", [*ones, f"len {n}"], _acgt(rng, n), arrays))
    alphabet = list("ACGT\u03b1\u03b2\u03b3\u03b4漢字🧬éàü\tx ")  # Greek, CJK, emoji, Latin-1
    for k in range(40):
        n = int(rng.integers(0, 60))
        pattern = k % 4
        arrays = []
        for code in NUMERIC:
            dtype = np.dtype(CODES[code])
            if dtype.kind in "iu":
                info = np.iinfo(dtype)
                if pattern == 0:  # small deltas
                    values = np.cumsum(rng.integers(-3, 4, n)) + (info.min + info.max) // 2
                elif pattern == 1:  # full range
                    values = rng.integers(info.min, int(info.max) + 1, n, dtype=np.int64)
                elif pattern == 2:  # signal-like
                    values = np.clip(rng.normal(400, 50, n), info.min, info.max)
                else:  # alternating extremes
                    values = np.where(np.arange(n) % 2, info.max, info.min)
                arrays.append(values)
            else:
                top = 4 if code == "F16" else 300
                arrays.append(rng.normal(0, 1, n) * 10.0 ** rng.integers(-top, top, n))
        rid = f"rnd_{k:02d}" + ("_ünï" if k % 7 == 0 else "")
        text = "".join(rng.choice(alphabet, int(rng.integers(0, 30))))
        attr_values = [int(rng.integers(-100, 100)) % 100 for _ in range(4)]
        attr_values += [float(rng.normal()) for _ in range(4)] + [f"random {k} ✓"]
        records.append(record(rid, attr_values, text, arrays))
    return schema, records


def _padded(values: np.ndarray) -> np.ndarray:
    """float128 values as 16-byte groups: the x87 value, then six zero bytes."""
    raw = np.ascontiguousarray(values, dtype=np.longdouble).view(np.uint8).reshape(-1, 16).copy()
    raw[:, 10:] = 0
    return raw.reshape(-1)


def expected(header: dict, schema: Schema, records: list[tuple]) -> dict[str, np.ndarray]:
    """The values handed to the writer, in the layout of the pysz fixtures' expected.npz."""
    ids = [str(r[0]) for r in records]
    out: dict[str, np.ndarray] = {
        "ids": np.array(ids, dtype=str),
        "index_order": np.array(ids, dtype=str),  # xsz keeps put order
        "n_reads": np.array(len(records)),
        "header_json": np.array(json.dumps(header)),
        "columns": np.array(schema.columns),
        "attr_names": np.array([f.name for f in schema.attributes]),
        "attr_codes": np.array([f.code for f in schema.attributes]),
        "dataset_names": np.array([f.name for f in schema.datasets]),
        "dataset_codes": np.array([f.code for f in schema.datasets]),
        "format": np.array("xsz-made-expected-v1"),
    }
    for k, f in enumerate(schema.fields):
        column = [r[k] for r in records]
        if f.group == "A":
            if f.is_text:
                out[f"attr__{f.name}"] = np.array(column, dtype=str)
                out[f"attrtext__{f.name}"] = np.array(column, dtype=str)
                continue
            values = np.array(column, dtype=f.dtype)
            out[f"attr__{f.name}"] = values
            out[f"attrtext__{f.name}"] = np.array([str(v) for v in values], dtype=str)
            if f.code == "F128":
                out[f"attrbytes__{f.name}"] = _padded(values)
        elif f.is_text:
            utf8 = [s.encode("utf-8") for s in column]
            out[f"ds__{f.name}__values"] = np.array(column, dtype=str)
            out[f"ds__{f.name}__utf8"] = np.frombuffer(b"".join(utf8), np.uint8)
            out[f"ds__{f.name}__offsets"] = np.cumsum([0] + [len(b) for b in utf8])
        else:
            arrays = [np.asarray(a, dtype=f.dtype) for a in column]
            values = np.concatenate(arrays) if arrays else np.zeros(0, f.dtype)
            out[f"ds__{f.name}__values"] = values
            out[f"ds__{f.name}__offsets"] = np.cumsum([0] + [len(a) for a in arrays])
            if f.code == "F128":
                out[f"ds__{f.name}__bytes"] = _padded(values)
    return out


def _store(root: Path, name: str, header, schema, records, *, checksum: bool) -> None:
    with SZWriter(root / name, schema, header=header, checksum=checksum) as writer:
        writer.put_many(records)
    np.savez(root / f"{name}.expected.npz", **expected(header, schema, records))


def write_sz_fixtures(root: Path) -> Path:
    """The four stores of the pysz fixtures, made by xsz, with their expected.npz, in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    basic = Schema.build(
        [(n, CODES[c]) for n, c in BASIC_ATTRS], [(n, CODES[c]) for n, c in BASIC_DATASETS]
    )
    _store(root, "basic", BASIC_HEADER, basic, _basic(300), checksum=False)
    schema, records = _alltypes()
    header = {"version": "0.4.0", "lab": "Zürich ✓", "note": 'tab\tand quote"'}
    _store(root, "alltypes", header, schema, records, checksum=False)
    signal = Schema.build([("ID", str)], [("Raw", np.int16)])
    _store(root, "signal_int16", {"version": "0.4.0"}, signal, _signal(200), checksum=True)
    _store(root, "empty", BASIC_HEADER, basic, [], checksum=False)
    return root
