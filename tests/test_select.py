"""xsz.select: ID lists in the shapes users keep them, and filter expressions
(checked against Python's own evaluation, and fuzzed: nothing but UsageError)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.made_reads import write_called
from xsz.cli import main
from xsz.errors import UsageError
from xsz.format import SZReader
from xsz.select import Column, ReadFilter, compile_filter, n50, parse_read_ids, read_id_list

# --- ID lists ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ids", "repeats"),
    [
        ("r1\nr2\n", ["r1", "r2"], 0),
        ("read_id\nr1\nr2\nr1\n", ["r1", "r2"], 1),
        ("#read_id\nr1\n\n# comment\nr2\n", ["r1", "r2"], 0),
        ("read_id,channel\nr1,5\nr2,6\n", ["r1", "r2"], 0),
        ("channel\tread_id\tlen\n5\tr9\t100\n6\tr8\t7\n5\tr9\t100\n", ["r9", "r8"], 1),
        ('"read_id","x"\n"r1","y"\n', ["r1"], 0),
        ("ID\nr1\nr1\nr1\n", ["r1"], 2),
        ("  r1  \r\nr2\r\n", ["r1", "r2"], 0),
        ("", [], 0),
    ],
)
def test_parse_read_ids_shapes(text, ids, repeats):
    got = parse_read_ids(text)
    assert got.ids == ids and got.repeats == repeats


def test_parse_read_ids_refuses_a_table_without_its_column():
    with pytest.raises(UsageError, match="header line naming its read ID column"):
        parse_read_ids("r1,5\nr2,6\n")
    with pytest.raises(UsageError, match="line 3 has 1 column"):
        parse_read_ids("channel,read_id\n5,r1\n6\n")


def test_read_id_list_from_stdin(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("read_id\nr2\nr2\n"))
    got = read_id_list("-")
    assert got.ids == ["r2"] and got.repeats == 1 and "1 repeated line ignored" in got.describe()


def test_cli_subset_takes_a_header_and_repeats(tmp_path, capsys):
    path = tmp_path / "s.sz"
    write_called(path, 10)
    ids = tmp_path / "ids.tsv"
    ids.write_text("read_id\tscore\nr004\t1\nr001\t2\nr004\t3\n")
    assert main(["subset", str(path), "--ids", str(ids), str(tmp_path / "o.sz"), "-q"]) == 0
    assert "1 repeated line ignored" in capsys.readouterr().err
    with SZReader(tmp_path / "o.sz") as reader:
        assert reader.ids.tolist() == ["r004", "r001"]


# --- filter expressions ----------------------------------------------------------------------

COLUMNS = {
    "channel": Column("channel", "attribute", "channel", False),
    "end_reason": Column("end_reason", "attribute", "end_reason", True),
    "Raw_count": Column("Raw_count", "count", "Raw", False),
}
RNG = np.random.default_rng(5)
VALUES = {
    "channel": RNG.integers(0, 8, 200).astype(np.int32),
    "end_reason": np.array(RNG.choice(["a", "b", "signal_positive"], 200), dtype=object),
    "Raw_count": RNG.integers(0, 10_000, 200),
}

numbers = st.sampled_from(["channel", "Raw_count"]) | st.integers(-5, 10_000).map(str)
arith = st.one_of(
    numbers,
    st.tuples(numbers, st.sampled_from(["+", "-", "*"]), numbers).map(lambda t: f"({' '.join(t)})"),
    st.tuples(numbers, st.sampled_from(["//", "%"]), st.integers(1, 50)).map(
        lambda t: f"({t[0]} {t[1]} {t[2]})"
    ),
)
texts = st.sampled_from(['"a"', '"b"', '"signal_positive"', '"zz"'])
comparison = st.one_of(
    st.tuples(arith, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), arith).map(" ".join),
    st.tuples(st.just("end_reason"), st.sampled_from(["==", "!=", "<", ">="]), texts).map(" ".join),
    st.lists(st.integers(0, 9).map(str), min_size=1, max_size=4).map(
        lambda xs: f"channel {'in' if len(xs) % 2 else 'not in'} ({', '.join(xs)},)"
    ),
    st.lists(texts, min_size=1, max_size=3).map(lambda xs: f"end_reason in [{', '.join(xs)}]"),
    st.tuples(numbers, numbers, numbers).map(lambda t: f"{t[0]} <= {t[1]} < {t[2]}"),
)
conditions = st.recursive(
    comparison,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda c: f"not {c}"),
    ),
    max_leaves=6,
)


@settings(max_examples=150, deadline=None)
@given(conditions)
def test_filter_expression_matches_python(text):
    f = compile_filter(text, COLUMNS)
    assert isinstance(f, ReadFilter)
    mask = f.mask(VALUES, 200)
    for i in range(0, 200, 13):
        row = {k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in VALUES.items()}
        assert bool(mask[i]) == bool(eval(text, {}, row)), (text, row)  # the oracle only


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            list("channel_Raw count()[]{}.,:;'\"=<>!+-*/%&|~^@ 0123456789aein orxt")
        ),
        max_size=40,
    )
)
def test_filter_expression_fuzz_only_usage_errors(text):
    try:
        assert compile_filter(text, COLUMNS).mask(VALUES, 200).shape == (200,)
    except UsageError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("filter expression")


def test_n50():
    assert n50(np.array([], dtype=np.int64)) == 0
    assert n50(np.array([10])) == 10
    assert n50(np.array([1, 1, 1, 1, 10])) == 10  # 10 of 14 >= 7
    assert n50(np.array([5, 5, 5, 5])) == 5


def test_tsv_text_is_format_values_joined():
    from xsz.format import CODES
    from xsz.select import format_values, tsv_text

    rng = np.random.default_rng(3)
    columns = [np.array(["r1", '"quoted"', "é ünï", "", "a,b"], dtype=object)]
    for code, dtype in CODES.items():
        if code == "S":
            continue
        if dtype.kind == "f":
            values = np.array([0.1, -2.5, np.nan, np.inf, 1e30 if dtype.itemsize > 2 else 6e4])
            columns.append(values.astype(dtype))
        else:
            info = np.iinfo(dtype)
            columns.append(rng.integers(info.min, info.max, 5, endpoint=True).astype(dtype))
    want = "".join(
        "\t".join(cells) + "\n" for cells in zip(*map(format_values, columns), strict=True)
    )
    assert tsv_text(columns) == want
    assert tsv_text([c[:0] for c in columns]) == ""
    for c in columns[1:]:  # every number reads back as itself
        text = tsv_text([c]).splitlines()
        assert np.array_equal(np.array(text, dtype=c.dtype), c, equal_nan=True)
