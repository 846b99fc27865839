"""The one mapping between an SZ schema and named, dimensioned variables.

SZStore (zarr arrays), the xarray engine (variables) and every conversion use
this module, so names, dimensions and attributes are defined once. For a store
with attributes ``ID:S, Offset:I32`` and datasets ``Raw:I16, Fastq:S``:

=============  ===============  ========  ============================================
variable       dims             dtype     what
=============  ===============  ========  ============================================
``read``       ``(read,)``      str       the read IDs (SZ attribute ``ID``), dimension
                                          coordinate; positions when there is no ``ID``
``Offset``     ``(read,)``      int32     an attribute, one value per read
``Raw``        ``(Raw_sample,)`` int16    all reads' samples back to back (CF contiguous
                                          ragged array)
``Raw_count``  ``(read,)``      int64     samples per read; ``sample_dimension: Raw_sample``
``Fastq``      ``(read,)``      str       a text dataset, one string per read
=============  ===============  ========  ============================================

Each variable's attrs record where it comes from (``sz_field``, ``sz_group``
``A``/``D``, ``sz_code``); the group's attrs are the SZ header plus
``sz_columns``, the index columns in order, so the way back is exact.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from xsz.codec import STR
from xsz.errors import SchemaError
from xsz.format import ID_FIELD, Field, Schema, code_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from xsz.format import SZReader

__all__ = [
    "CALIBRATIONS",
    "COLUMNS_ATTR",
    "READ_DIM",
    "SAMPLE_DIMENSION",
    "Role",
    "Variable",
    "VariableSpec",
    "count_name",
    "group_attrs",
    "index_values",
    "layout",
    "sample_dim",
    "schema_from_variables",
]

READ_DIM: Final = "read"
"""The dimension of reads, and the name of its coordinate (the read IDs)."""
COLUMNS_ATTR: Final = "sz_columns"
"""Group attribute holding the SZ index columns in order."""
SAMPLE_DIMENSION: Final = "sample_dimension"
"""The CF attribute of a count variable naming its ragged array's dimension."""

CALIBRATIONS: Final = (
    (("Offset", "Raw_unit"), "pysz: pA = (raw + Offset) * Raw_unit"),
    (("offset", "scale"), "pod5 / slow5: pA = (raw + offset) * scale"),
    (
        ("offset", "range", "digitisation"),
        "fast5 / slow5: pA = (raw + offset) * range / digitisation",
    ),
    (("calibration_offset", "calibration_scale"), "pod5 names: pA = (raw + offset) * scale"),
)
"""Per-read variables that calibrate a raw signal, tried in this order (the
``ds.sz`` accessor and ``xsz stats`` use them)."""

Role = Literal["read_id", "read_position", "attribute", "count", "ragged", "text"]


def sample_dim(dataset: str) -> str:
    """The sample dimension of a ragged dataset: ``Raw`` -> ``Raw_sample``."""
    return f"{dataset}_sample"


def count_name(dataset: str) -> str:
    """The count variable of a ragged dataset: ``Raw`` -> ``Raw_count``."""
    return f"{dataset}_count"


@dataclass(frozen=True)
class VariableSpec:
    """One variable of the mapping."""

    name: str
    dims: tuple[str, ...]
    dtype: np.dtype[Any]
    role: Role
    field: Field | None
    """The SZ field the values come from (for a count: its dataset)."""
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def is_text(self) -> bool:
        return self.dtype == STR


def _field_attrs(f: Field) -> dict[str, Any]:
    return {"sz_field": f.name, "sz_group": f.group, "sz_code": f.code}


def layout(schema: Schema) -> dict[str, VariableSpec]:
    """The variables of an SZ store with `schema`, in schema order.

    Examples
    --------
    >>> import numpy as np
    >>> s = Schema.build([("ID", str), ("Offset", np.int32)], [("Raw", np.int16)])
    >>> [(v.name, v.dims, v.role) for v in layout(s).values()]
    [('read', ('read',), 'read_id'), ('Offset', ('read',), 'attribute'), \
('Raw', ('Raw_sample',), 'ragged'), ('Raw_count', ('read',), 'count')]
    """
    out: dict[str, VariableSpec] = {}

    def add(spec: VariableSpec) -> None:
        name = spec.name
        while name in out or (name == READ_DIM and spec.role not in ("read_id", "read_position")):
            name += "_"  # a name taken (rare): keep the variable, sz_field tells its origin
        out[name] = dataclasses.replace(spec, name=name)

    id_name = schema.id_field
    if id_name is None:
        add(VariableSpec(READ_DIM, (READ_DIM,), np.dtype(np.int64), "read_position", None))
    for f in schema.attributes:
        if f.name == id_name:
            add(VariableSpec(READ_DIM, (READ_DIM,), STR, "read_id", f, _field_attrs(f)))
        else:
            add(VariableSpec(f.name, (READ_DIM,), f.dtype, "attribute", f, _field_attrs(f)))
    for f in schema.datasets:
        if f.is_text:
            add(VariableSpec(f.name, (READ_DIM,), STR, "text", f, _field_attrs(f)))
            continue
        dim = sample_dim(f.name)
        add(VariableSpec(f.name, (dim,), f.dtype, "ragged", f, _field_attrs(f)))
        add(
            VariableSpec(
                count_name(f.name),
                (READ_DIM,),
                np.dtype(np.int64),
                "count",
                f,
                {SAMPLE_DIMENSION: dim},
            )
        )
    return out


def group_attrs(header: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """The attributes of the group / Dataset: the SZ header plus the column order."""
    if COLUMNS_ATTR in header:
        raise SchemaError(f"the SZ header uses the reserved key {COLUMNS_ATTR!r}")
    return {**header, COLUMNS_ATTR: schema.columns}


@dataclass(frozen=True)
class Variable:
    """What `schema_from_variables` needs to know of a zarr array or xarray variable."""

    dims: tuple[str, ...]
    dtype: np.dtype[Any]
    attrs: Mapping[str, Any]


def schema_from_variables(
    variables: Mapping[str, Variable], attrs: Mapping[str, Any]
) -> tuple[Schema, dict[str, Any], dict[str, str]]:
    """The way back: an SZ schema, header and field -> variable map for a hierarchy.

    Works on what `layout` produced (the ``sz_*`` attributes and ``sz_columns``
    make it exact) and on look-alikes built by hand: ``(read,)`` variables are
    attributes (a text ``read`` coordinate is the ``ID``), a variable whose
    attrs name a ``sample_dimension`` is the count of the ragged variable on
    that dimension, and text variables marked ``sz_group: D`` are datasets.
    Raises `SchemaError` for anything an SZ store cannot hold.
    """
    header = {k: v for k, v in attrs.items() if k != COLUMNS_ATTR}
    counts = {
        v.attrs[SAMPLE_DIMENSION]: name
        for name, v in variables.items()
        if SAMPLE_DIMENSION in v.attrs
    }
    fields: dict[str, tuple[str, str, object]] = {}  # SZ name -> (group, variable, dtype)
    for name, v in variables.items():
        if name in counts.values():
            if v.dims != (READ_DIM,):
                raise SchemaError(
                    f"count variable {name!r} must have dims ({READ_DIM!r},), has {v.dims}"
                )
            continue
        sz_name = str(v.attrs.get("sz_field", name))
        if v.dims == (READ_DIM,):
            is_text = v.dtype.kind in "UOTS"
            group = "D" if v.attrs.get("sz_group") == "D" and is_text else "A"
            if name == READ_DIM:
                if not is_text:
                    continue  # positions: not stored
                sz_name = str(v.attrs.get("sz_field", ID_FIELD))
            fields[sz_name] = (group, name, str if is_text else v.dtype)
        elif len(v.dims) == 1 and v.dims[0] in counts:
            fields[sz_name] = ("D", name, v.dtype)
        elif len(v.dims) == 1 and v.dims[0] != READ_DIM:
            raise SchemaError(
                f"variable {name!r} lies on dimension {v.dims[0]!r}, but no variable has "
                f"attrs {{'{SAMPLE_DIMENSION}': '{v.dims[0]}'}} giving its per-read counts"
            )
        else:
            raise SchemaError(
                f"variable {name!r} has dims {v.dims}: an SZ store holds 1-D variables on "
                f"{READ_DIM!r} or on a sample dimension"
            )
    for _, name, dtype in fields.values():
        if dtype is not str:
            try:
                code_of(dtype)
            except SchemaError as exc:
                raise SchemaError(f"variable {name!r} cannot be stored as SZ: {exc}") from None
    order = _column_order(fields, attrs.get(COLUMNS_ATTR))
    try:
        schema = Schema.build(
            [(n, fields[n][2]) for n in order if fields[n][0] == "A"],
            [(n, fields[n][2]) for n in order if fields[n][0] == "D"],
        )
    except SchemaError as exc:  # name the variables, not just the fields
        names = {n: v for n, (_, v, _) in fields.items() if n != v}
        where = f" (SZ fields from variables: {names})" if names else ""
        raise SchemaError(f"cannot store these variables as SZ: {exc}{where}") from exc
    return schema, header, {n: fields[n][1] for n in order}


def _column_order(fields: Mapping[str, Any], columns: object) -> list[str]:
    listed: list[str] = []
    if isinstance(columns, list | tuple):
        listed = [str(c).split(":")[0] for c in columns[2:] if str(c).split(":")[0] in fields]
    rest = [n for n in fields if n not in listed]
    ids = [n for n in rest if n == ID_FIELD]
    return listed + ids + [n for n in rest if n != ID_FIELD]


def index_values(spec: VariableSpec, reader: SZReader) -> np.ndarray[Any, Any]:
    """The values of a per-read variable (ID, attribute, count, position), all from
    the index: nothing of ``dat`` is read."""
    if spec.role == "read_position":
        return np.arange(len(reader), dtype=np.int64)
    if spec.field is None or spec.role not in ("read_id", "attribute", "count"):
        raise SchemaError(f"variable {spec.name!r} ({spec.role}) is not made from the index")
    if spec.role == "count":
        return reader.counts(spec.field.name).astype(np.int64, copy=False)
    return reader.index.attribute(spec.field.name)
