"""Every corrupt SZ index is an `SZFormatError` naming the store, the line, the read,
the column and the bad text: from `read_index`, from `SZReader`, and from
``xsz verify`` as one ``xsz: error:`` line (xsz issue 9, items 6 and 8).

The store is written by `SZWriter` with one attribute of every type code, then
its ``checksums`` file is deleted (as pysz writes stores), so the parser itself
sees each edited index.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from xsz.cli import main
from xsz.errors import SchemaError, SZFormatError
from xsz.format import Schema, SZReader, SZWriter, read_index
from xsz.format._schema import MAX_HEADER_BYTES, MAX_HEADER_DEPTH, json_depth

ATTRIBUTES = [
    ("ID", str),
    ("a_i16", np.int16),
    ("a_i32", np.int32),
    ("a_u16", np.uint16),
    ("a_u32", np.uint32),
    ("a_f16", np.float16),
    ("a_f32", np.float32),
    ("a_f64", np.float64),
    ("a_f128", np.longdouble),
    ("note", str),
]
DATASETS = [("Raw", np.int16), ("Fastq", str), ("Move", np.uint16), ("Scale", np.float32)]
WHERE = "store.sz/index"


def records(n: int = 6) -> list[tuple]:
    rng = np.random.default_rng(9)
    out = []
    for i in range(n):
        m = 40 + 13 * i
        out.append(
            (
                f"read_{i:03d}",
                -5 * i,
                70000 + i,
                i,
                4_000_000_000 + i,
                0.5 * i,
                0.25 + i,
                1.0 / (i + 3),
                np.longdouble(1) / (i + 7),
                "note é" if i % 2 else "",
                rng.integers(300, 900, m).astype(np.int16),
                "ACGT" * (m // 8),
                (rng.random(m // 5) < 0.3).astype(np.uint16),
                rng.random(m // 3).astype(np.float32),
            )
        )
    return out


@pytest.fixture(scope="module")
def pysz_store(tmp_path_factory):
    """A store without checksums (as pysz writes them): its index bytes and dat size."""
    path = tmp_path_factory.mktemp("corrupt") / "store.sz"
    with SZWriter(path, Schema.build(ATTRIBUTES, DATASETS)) as writer:
        writer.put_many(records())
    (path / "checksums").unlink()
    return path


@pytest.fixture
def index(pysz_store):
    return (pysz_store / "index").read_bytes()


def dat_size(store) -> int:
    return (store / "dat").stat().st_size


def edit_cell(data: bytes, line: int, column: str, value: bytes) -> bytes:
    """`data` with the cell of `column` (its name) on line `line` (1-based) replaced."""
    lines = data.split(b"\n")
    names = [c.split(b":")[0].decode() for c in lines[1].split(b"\t")]
    cells = lines[line - 1].split(b"\t")
    cells[names.index(column)] = value
    lines[line - 1] = b"\t".join(cells)
    return b"\n".join(lines)


def cell(data: bytes, line: int, column: str) -> bytes:
    lines = data.split(b"\n")
    names = [c.split(b":")[0].decode() for c in lines[1].split(b"\t")]
    return lines[line - 1].split(b"\t")[names.index(column)]


def refused(data: bytes, store, *patterns: str) -> SZFormatError:
    """`read_index` refuses `data` with a message holding every pattern (literally)."""
    with pytest.raises(SZFormatError) as info:
        read_index(data, where=WHERE, dat_size=dat_size(store))
    message = str(info.value)
    assert message.startswith(WHERE + ": ")
    for pattern in patterns:
        assert pattern in message, (pattern, message)
    assert len(message.splitlines()) == 1
    return info.value


def refused_everywhere(data: bytes, store, tmp_path, capsys, *patterns: str) -> None:
    """`read_index`, `SZReader` and ``xsz verify`` all refuse the store with `data`
    as its index; verify in one ``xsz: error:`` line, no traceback."""
    refused(data, store, *patterns)
    copy = tmp_path / "edited.sz"
    shutil.copytree(store, copy)
    (copy / "index").write_bytes(data)
    with pytest.raises(SZFormatError) as info:
        SZReader(copy)
    for pattern in patterns:
        assert pattern in str(info.value)
    capsys.readouterr()
    assert main(["verify", "-q", str(copy)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"xsz: error: {copy}")
    assert "Traceback" not in err


def test_index_corrupt_store_is_sound(pysz_store, index, capsys):
    parsed = read_index(index, where=WHERE, dat_size=dat_size(pysz_store))
    assert len(parsed) == 6
    assert parsed.attribute("a_f128").dtype == np.longdouble
    assert parsed.attribute("a_f16").tolist() == [0.5 * i for i in range(6)]
    assert main(["verify", "-q", str(pysz_store)]) == 0


# --- the failures issue 9 measured ------------------------------------------------


def test_index_corrupt_offset_near_2_63(pysz_store, index, tmp_path, capsys):
    data = edit_cell(index, 4, "OFFSET", b"9223372036854775800")
    refused_everywhere(
        data, pysz_store, tmp_path, capsys, "line 4 (read 'read_001'), column 'OFFSET'",
        "9223372036854775800 is not a byte count",
    )  # fmt: skip


def test_index_corrupt_offset_plus_length_past_2_63(pysz_store, index):
    data = edit_cell(index, 4, "OFFSET", b"%d" % (2**62 - 1))
    with pytest.raises(SZFormatError, match=r"read 'read_001' \(row 1\) needs bytes 4611"):
        read_index(data, where=WHERE, dat_size=dat_size(pysz_store))
    assert read_index(data).frame_offset["Raw"][1] == 2**62 - 1  # no overflow without dat


@pytest.mark.parametrize("count", [b"4294967295", b"9223372036854775807"])
def test_index_corrupt_count_beyond_its_frame(pysz_store, index, tmp_path, capsys, count):
    size = cell(index, 5, "Raw").split(b":")[0]
    data = edit_cell(index, 5, "Raw", size + b":" + count)
    refused_everywhere(
        data, pysz_store, tmp_path, capsys, "line 5 (read 'read_002'), column 'Raw:D:I16'",
        f"{count.decode()} values cannot fit a frame of {size.decode()} bytes",
    )  # fmt: skip


def test_index_corrupt_count_is_bounded_exactly(pysz_store, index):
    """The largest count a frame of SIZE bytes can hold passes; one more is refused."""
    size = int(cell(index, 5, "Raw").split(b":")[0])
    most = -(-size // 3) * (1 << 17) * 4 // 5
    ok = edit_cell(index, 5, "Raw", b"%d:%d" % (size, most))
    assert read_index(ok).count["Raw"][2] == most
    refused(edit_cell(index, 5, "Raw", b"%d:%d" % (size, most + 1)), pysz_store, "cannot fit")


@pytest.mark.parametrize("text", [b"abc", b"", b"1.5.5"])
def test_index_corrupt_f128_cell(pysz_store, index, tmp_path, capsys, text):
    data = edit_cell(index, 3, "a_f128", text)
    refused_everywhere(
        data, pysz_store, tmp_path, capsys, "line 3 (read 'read_000'), column 'a_f128:A:F128'",
        f"{text.decode()!r} is not an F128 value",
    )  # fmt: skip


def test_index_corrupt_header_of_brackets(pysz_store, index, tmp_path, capsys):
    data = b"#" + b"[" * 100_000 + index[index.index(b"\n") :]
    refused_everywhere(data, pysz_store, tmp_path, capsys, "line 1: the header nests 100000 deep")


def test_index_corrupt_header_number_of_100000_digits(pysz_store, index, tmp_path, capsys):
    data = b'#{"version": ' + b"7" * 100_000 + b"}" + index[index.index(b"\n") :]
    refused_everywhere(data, pysz_store, tmp_path, capsys, "line 1: the header is not", "digits")


def test_index_corrupt_column_line_with_no_fields(pysz_store, tmp_path, capsys):
    """LENGTH and OFFSET only: a bad row is named by its row (there is no ID)."""
    store = tmp_path / "bare.sz"
    store.mkdir()
    (store / "dat").write_bytes(b"")
    data = b"#{}\nLENGTH\tOFFSET\n0\t0\nx\t0\n"
    refused_everywhere(data, store, tmp_path, capsys, "line 4 (row 1), column 'LENGTH': 'x'")
    refused(b"#{}\n\n", store, "line 2: index columns must start with LENGTH, OFFSET")


# --- every column type -------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "text", "problem"),
    [
        ("LENGTH", b"", "'' is not a byte count"),
        ("LENGTH", b"-5", "-5 is not a byte count"),
        ("LENGTH", b"\xd9\xa3", "'\u0663' is not a byte count"),  # an Arabic-Indic digit
        ("OFFSET", b"18446744073709551616", "'18446744073709551616' is not a byte count"),
        ("a_i16", b"32768", "'32768' is not an I16 (int16) value"),
        ("a_i16", b"-32769", "'-32769' is not an I16 (int16) value"),
        ("a_i32", b"2147483648", "'2147483648' is not an I32 (int32) value"),
        ("a_u16", b"65536", "'65536' is not a U16 (uint16) value"),
        ("a_u16", b"-1", "'-1' is not a U16 (uint16) value"),
        ("a_u32", b"4294967296", "'4294967296' is not a U32 (uint32) value"),
        ("a_u32", b"1.5", "'1.5' is not a U32 (uint32) value"),
        ("a_f16", b"70000", "'70000' is out of the range of float16"),
        ("a_f16", b"x", "'x' is not an F16 (float16) value"),
        ("a_f32", b"1e39", "'1e39' is out of the range of float32"),
        ("a_f32", b"1_0", "'1_0' is not an F32 (float32) value"),  # float() would take it
        ("a_f64", b"-1e309", "'-1e309' is out of the range of float64"),
        ("a_f128", b"1e5000", "'1e5000' is out of the range of float128"),
        ("a_f128", b"1" * 100, "(100 characters) is too long"),
        ("ID", b"\xff\xfe", "b'\\xff\\xfe' is not UTF-8 text"),
        ("note", b"caf\xc3", "b'caf\\xc3' is not UTF-8 text"),
        ("Raw", b"12", "'12' is not SIZE:COUNT"),
        ("Raw", b"12:", "'12:' is not SIZE:COUNT"),
        ("Raw", b"12:5:5", "'12:5:5' is not SIZE:COUNT"),
        ("Raw", b"12:-5", "'12:-5' is not SIZE:COUNT"),
        ("Raw", b"12:18446744073709551616", "is not SIZE:COUNT"),
        ("Raw", b"9223372036854775807:5", "'9223372036854775807:5': SIZE is over 2**62 - 1"),
        ("Fastq", b"22:5", "'22:5' is not SIZE: (S cells have no COUNT)"),
        ("Scale", b"x:", "'x:' is not SIZE: (F32 cells have no COUNT)"),
        ("Move", b"\xff:3", "is not UTF-8 text"),
    ],
)
def test_index_corrupt_cell_is_named(pysz_store, index, column, text, problem):
    data = edit_cell(index, 6, column, text)
    refused(data, pysz_store, "line 6 (read 'read_003'" if column != "ID" else "line 6", problem)


@pytest.mark.parametrize(
    ("column", "text", "value"),
    [
        ("a_f16", b"inf", np.inf),
        ("a_f32", b"-Infinity", -np.inf),
        ("a_f64", b" inf ", np.inf),
        ("a_f128", b"-inf", -np.inf),
        ("a_f16", b"65519", 65504.0),  # rounds to float16's largest
    ],
)
def test_index_corrupt_spelled_infinities_pass(index, column, text, value):
    parsed = read_index(edit_cell(index, 6, column, text))
    assert parsed.attribute(column)[3] == value


def test_index_corrupt_f128_beyond_float64_is_read_without_warnings(index):
    """Long doubles past float64's range (a subnormal makes numpy warn) are values,
    not errors; warnings are errors in this test suite."""
    data = edit_cell(edit_cell(index, 6, "a_f128", b"1e4000"), 7, "a_f128", b"-1e-4940")
    values = read_index(data).attribute("a_f128")
    assert str(values[3]) == "1e+4000"
    assert np.longdouble("-1e-4930") < values[4] < 0


def test_index_corrupt_sizes_that_overflow_when_added(pysz_store, index):
    """Three sizes of 2**62 - 1 add past int64: refused, not wrapped to LENGTH."""
    big = b"%d" % (2**62 - 1)
    data = edit_cell(index, 4, "Raw", big + b":1")
    data = edit_cell(data, 4, "Fastq", big + b":")
    data = edit_cell(data, 4, "Move", big + b":1")
    refused(data, pysz_store, "column 'LENGTH'", "its frames add up to more than that")


# --- lines -------------------------------------------------------------------------


def test_index_corrupt_tab_in_an_id(pysz_store, index):
    data = edit_cell(index, 5, "ID", b"read\t002")
    refused(data, pysz_store, "line 5 has 17 cells, expected 16")


def test_index_corrupt_newline_in_an_id(pysz_store, index):
    data = edit_cell(index, 5, "ID", b"read\n002")
    refused(data, pysz_store, "line 5 has 3 cells, expected 16")


def test_index_corrupt_lone_cr_in_a_cell(pysz_store, index):
    """Arrow would take the CR for a line end: refused, naming the line."""
    data = edit_cell(index, 5, "note", b"a\rb")
    refused(data, pysz_store, "line 5 (read 'read_002') holds a CR")


def test_index_corrupt_crlf_lines_parse_as_lf(pysz_store, index):
    crlf = read_index(index.replace(b"\n", b"\r\n"), dat_size=dat_size(pysz_store))
    lf = read_index(index)
    assert crlf.header == lf.header and crlf.ids().tolist() == lf.ids().tolist()
    assert crlf.count["Raw"].tolist() == lf.count["Raw"].tolist()
    assert crlf.attribute("note").tolist() == lf.attribute("note").tolist()


def test_index_corrupt_missing_and_extra_cells(pysz_store, index):
    lines = index.split(b"\n")
    short = lines[4].rsplit(b"\t", 1)[0]
    data = b"\n".join([*lines[:4], short, *lines[5:]])
    refused(data, pysz_store, "line 5 has 15 cells, expected 16")
    data = b"\n".join([*lines[:4], lines[4] + b"\t7", *lines[5:]])
    refused(data, pysz_store, "line 5 has 17 cells, expected 16")


def test_index_corrupt_empty_line(pysz_store, index):
    lines = index.split(b"\n")
    refused(b"\n".join([*lines[:4], b"", *lines[4:]]), pysz_store, "line 5 is empty")
    refused(index + b"\n", pysz_store, "line 9 is empty")


def test_index_corrupt_truncated_last_line(pysz_store, index):
    """Cut inside the last cell, the line still has every cell: the missing line end
    says the index was cut short."""
    refused(index[:-2], pysz_store, "line 8 (read 'read_005') has no line end")
    refused(index[:-1], pysz_store, "line 8 (read 'read_005') has no line end")


def test_index_corrupt_duplicate_ids(pysz_store, index, tmp_path, capsys):
    """Rows with one ID parse (pysz writes them); lookups by that ID and verify refuse."""
    data = edit_cell(index, 5, "ID", b"read_000")
    assert read_index(data).ids_unique is False
    copy = tmp_path / "dup.sz"
    shutil.copytree(pysz_store, copy)
    (copy / "index").write_bytes(data)
    with SZReader(copy) as reader, pytest.raises(SZFormatError, match="rows \\[0, 2\\]"):
        reader.row("read_000")
    assert main(["verify", "-q", str(copy)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "read ID repeats row 0" in err


def test_index_corrupt_duplicated_line(pysz_store, index, tmp_path, capsys):
    lines = index.split(b"\n")
    data = b"\n".join([*lines[:5], lines[4], *lines[5:]])
    copy = tmp_path / "twice.sz"
    shutil.copytree(pysz_store, copy)
    (copy / "index").write_bytes(data)
    assert main(["verify", "-q", str(copy)]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("xsz: error:")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "index is empty"),
        (b'#{"version": "0.4.0"}\n', "index has no column line (line 2)"),
        (bytes(range(256)) * 4, "line 1 must start with '#'"),
        (b"#[1, 2]\nLENGTH\tOFFSET\n", "line 1: the header holds list"),
        (b"#{\xff}\nLENGTH\tOFFSET\n", "line 1: the header is not '#' + a JSON object"),
        (b"#{}\nLENGTH\tOFFSET\tID:X:S\n", "line 2: index column 'ID:X:S'"),
        (b"#{}\nLENGTH\tOFFSET\tID\xff:A:S\n", "line 2:"),
    ],
)
def test_index_corrupt_whole_file(pysz_store, data, problem):
    refused(data, pysz_store, problem)


def test_index_corrupt_header_only_with_columns_is_an_empty_store(pysz_store, index):
    head = index[: index.index(b"\n", index.index(b"\n") + 1) + 1]
    assert len(read_index(head, dat_size=0)) == 0


def test_index_corrupt_over_long_line(pysz_store, index):
    """A line no Arrow block holds is named, not reported as a bad first cell."""
    from xsz.format._index_rows import MAX_LINE_BYTES

    data = edit_cell(index, 5, "note", b"n" * 2 * MAX_LINE_BYTES)
    refused(data, pysz_store, "line 5 is", "more than an index line may be")


# --- headers: bounded both ways ----------------------------------------------------


def test_index_corrupt_header_depth_ignores_brackets_in_strings():
    assert json_depth('{"a": [1, {"b": "[[[[\\"]]"}]}') == 3
    assert json_depth('"' + '\\"' * 1000 + "[[") == 0  # unterminated: the string runs on


def test_index_corrupt_header_limits_are_what_the_writer_allows(tmp_path, index, pysz_store):
    """A header SZWriter takes, read_index takes back; the writer refuses the others
    (never a RecursionError, never a store xsz cannot open)."""
    deep: object = 1
    for _ in range(MAX_HEADER_DEPTH - 1):  # in the header's object: MAX_HEADER_DEPTH levels
        deep = [deep]
    schema = Schema.build([("ID", str)], [])
    with SZWriter(tmp_path / "deep.sz", schema, header={"x": deep}) as writer:
        writer.put("a")
    assert SZReader(tmp_path / "deep.sz").header == {"x": deep}
    for header in ({"x": [deep]}, {"x": "y" * MAX_HEADER_BYTES}):
        with pytest.raises(SchemaError, match="header"):
            SZWriter(tmp_path / "no.sz", schema, header=header)
    recursive: list[object] = []
    recursive.append(recursive)
    with pytest.raises(SchemaError, match="nests deeper"):
        SZWriter(tmp_path / "no.sz", schema, header={"x": recursive})
    rest = index[index.index(b"\n") :]
    refused(b"#" + b"[" * (MAX_HEADER_DEPTH + 1) + rest, pysz_store, "nests 65 deep")
    long = b'#{"x": "' + b"y" * MAX_HEADER_BYTES + b'"}' + rest
    refused(long, pysz_store, f"more than {MAX_HEADER_BYTES}")
