"""An independent reference for the svb-zstd payload, written from SZ-FORMAT.md.

Plain Python loops, no xsz and no libstreamvbyte: the oracle that xsz's fast
paths are checked against. Slow; use it on small arrays.
"""

from __future__ import annotations

import numpy as np
import zstandard

SIGNED = {"I16": np.int16, "I32": np.int32}
UNSIGNED = {"U16": np.uint16, "U32": np.uint32}
FLOATS = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "F128": np.longdouble}


def svb_encode(values: list[int]) -> bytes:
    """streamvbyte 'standard' layout of unsigned 32-bit values."""
    control = bytearray((len(values) + 3) // 4)
    data = bytearray()
    for i, v in enumerate(values):
        assert 0 <= v < 2**32
        nbytes = 1 if v < 2**8 else 2 if v < 2**16 else 3 if v < 2**24 else 4
        control[i // 4] |= (nbytes - 1) << (2 * (i % 4))
        data += v.to_bytes(nbytes, "little")
    return bytes(control + data)


def svb_decode(payload: bytes, count: int) -> list[int]:
    n_control = (count + 3) // 4
    pos = n_control
    out = []
    for i in range(count):
        nbytes = ((payload[i // 4] >> (2 * (i % 4))) & 3) + 1
        out.append(int.from_bytes(payload[pos : pos + nbytes], "little"))
        pos += nbytes
    assert pos == len(payload), "payload longer than its values"
    return out


def zigzag_delta(values: list[int]) -> list[int]:
    out, prev = [], 0
    for x in values:
        d = (x - prev + 2**31) % 2**32 - 2**31  # 32-bit two's complement wrap-around
        prev = x
        out.append(((d << 1) ^ (d >> 31)) & 0xFFFFFFFF)
    return out


def unzigzag_delta(codes: list[int]) -> list[int]:
    out, acc = [], 0
    for z in codes:
        d = (z >> 1) ^ -(z & 1)
        acc = (acc + d + 2**31) % 2**32 - 2**31
        out.append(acc)
    return out


def payload(code: str, values: object) -> bytes:
    """What pysz 0.4.0 hands to zstd for one dataset value."""
    if code == "S":
        assert isinstance(values, str)
        return values.encode("utf-8")
    arr = np.asarray(values)
    if code in SIGNED:
        return svb_encode(zigzag_delta([int(x) for x in arr.astype(np.int64)]))
    if code in UNSIGNED:
        return svb_encode([int(x) for x in arr.astype(np.int64)])
    return arr.astype(FLOATS[code]).tobytes()


def decode(code: str, frame: bytes, count: int | None) -> object:
    raw = zstandard.ZstdDecompressor().decompress(frame)
    if code == "S":
        return raw.decode("utf-8")
    if code in SIGNED:
        assert count is not None
        return np.array(unzigzag_delta(svb_decode(raw, count)), dtype=np.int64).astype(SIGNED[code])
    if code in UNSIGNED:
        assert count is not None
        return np.array(svb_decode(raw, count), dtype=np.uint32).astype(UNSIGNED[code])
    return np.frombuffer(raw, FLOATS[code]).copy()


def frame(code: str, values: object) -> bytes:
    """The frame pysz 0.4.0 would write (same libzstd version assumed)."""
    return zstandard.ZstdCompressor(level=3).compress(payload(code, values))


def read_store(path: object) -> tuple[dict, list[str], list[dict]]:
    """Read an SZ store line by line, as the original does, but typed via numpy."""
    import json
    from pathlib import Path

    path = Path(path)
    lines = (path / "index").read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0][1:])
    columns = lines[1].split("\t")
    dat = (path / "dat").read_bytes()
    reads = []
    for line in lines[2:]:
        if not line:
            continue
        cells = line.split("\t")
        assert len(cells) == len(columns), line
        length, offset = int(cells[0]), int(cells[1])
        record: dict = {"LENGTH": length, "OFFSET": offset}
        pos = offset
        for column, cell in zip(columns[2:], cells[2:], strict=True):
            name, group, code = column.split(":")
            if group == "A":
                record[name] = cell
                continue
            size_text, _, count_text = cell.partition(":")
            size = int(size_text)
            count = int(count_text) if count_text else None
            record[name] = decode(code, dat[pos : pos + size], count)
            record[name + ":cell"] = cell
            pos += size
        assert pos == offset + length, "LENGTH disagrees with the frames"
        reads.append(record)
    return header, columns, reads
