"""The SZ <-> variables mapping, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from xsz.errors import SchemaError
from xsz.format import Schema
from xsz.mapping import Variable, group_attrs, layout, schema_from_variables

ALL = Schema.build(
    [("ID", str), ("Offset", np.int32), ("scale", np.float32), ("run", str), ("x", np.longdouble)],
    [("Raw", np.int16), ("Fastq", str), ("Move", np.uint16), ("q", np.float32)],
)


def test_mapping_layout_names_dims_roles():
    specs = layout(ALL)
    assert [(s.name, s.dims, s.role) for s in specs.values()] == [
        ("read", ("read",), "read_id"),
        ("Offset", ("read",), "attribute"),
        ("scale", ("read",), "attribute"),
        ("run", ("read",), "attribute"),
        ("x", ("read",), "attribute"),
        ("Raw", ("Raw_sample",), "ragged"),
        ("Raw_count", ("read",), "count"),
        ("Fastq", ("read",), "text"),
        ("Move", ("Move_sample",), "ragged"),
        ("Move_count", ("read",), "count"),
        ("q", ("q_sample",), "ragged"),
        ("q_count", ("read",), "count"),
    ]
    assert specs["Raw_count"].attrs == {"sample_dimension": "Raw_sample"}
    assert specs["read"].attrs == {"sz_field": "ID", "sz_group": "A", "sz_code": "S"}
    assert specs["x"].dtype == np.longdouble


@pytest.mark.parametrize(
    "schema",
    [
        ALL,
        Schema.build([("ID", str)], [("Raw", np.int16)]),
        Schema.build([("n", np.uint16)], [("Raw", np.uint32)]),
        Schema.build([("ID", str), ("Raw_count", np.int32)], [("Raw", np.int16)]),
        Schema.build([("read", str)], [("Raw", np.int16)]),
    ],
)
def test_mapping_round_trip(schema):
    specs = layout(schema)
    attrs = group_attrs({"version": "0.4.0"}, schema)
    variables = {s.name: Variable(s.dims, s.dtype, s.attrs) for s in specs.values()}
    back, header, names = schema_from_variables(variables, attrs)
    assert back == schema
    assert header == {"version": "0.4.0"}
    assert set(names.values()) <= set(specs)


def test_mapping_collisions_are_renamed_not_lost():
    schema = Schema.build(
        [("ID", str), ("Raw_count", np.int32), ("read", np.int16)], [("Raw", np.int16)]
    )
    specs = layout(schema)
    assert specs["Raw_count"].role == "attribute"  # the SZ attribute keeps its name
    assert specs["Raw_count_"].attrs == {"sample_dimension": "Raw_sample"}
    assert specs["read_"].attrs["sz_field"] == "read"


def test_mapping_hand_made_variables():
    variables = {
        "read": Variable(("read",), np.dtype("<U36"), {}),
        "signal": Variable(("signal_sample",), np.dtype(np.int16), {}),
        "n": Variable(("read",), np.dtype(np.int64), {"sample_dimension": "signal_sample"}),
        "offset": Variable(("read",), np.dtype(np.float32), {}),
    }
    schema, header, names = schema_from_variables(variables, {"run": "x"})
    assert schema.columns == ["LENGTH", "OFFSET", "ID:A:S", "offset:A:F32", "signal:D:I16"]
    assert names == {"ID": "read", "offset": "offset", "signal": "signal"}
    assert header == {"run": "x"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"x": Variable(("read", "y"), np.dtype(np.int16), {})}, "dims"),
        ({"x": Variable(("x_sample",), np.dtype(np.int16), {})}, "sample_dimension"),
        ({"x": Variable(("read",), np.dtype(np.int64), {})}, "int64"),
    ],
)
def test_mapping_refuses_what_sz_cannot_hold(variables, message):
    with pytest.raises(SchemaError, match=message):
        schema_from_variables(variables, {})
