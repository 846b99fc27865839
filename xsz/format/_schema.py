"""SZ schemas: the type codes, the attributes and datasets of a store, and its header."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np

from xsz.codec import STR, kind_of
from xsz.errors import FieldNotFoundError, SchemaError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "CODES",
    "DEFAULT_HEADER",
    "ID_FIELD",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
    "Field",
    "Schema",
    "code_of",
    "json_depth",
    "load_header",
    "parse_header",
]

CODES: Final[dict[str, np.dtype[Any]]] = {
    "S": STR,
    "I16": np.dtype(np.int16),
    "I32": np.dtype(np.int32),
    "U16": np.dtype(np.uint16),
    "U32": np.dtype(np.uint32),
    "F16": np.dtype(np.float16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "F128": np.dtype(np.longdouble),
}
"""SZ type code -> numpy dtype (``np.dtype(str)`` stands for text)."""

_COUNTED: Final = frozenset(code for code, dt in CODES.items() if kind_of(dt) in ("delta", "svb"))
"""Type codes whose dataset cells record an element count (the streamvbyte types)."""

ID_FIELD: Final = "ID"
"""The attribute that names reads, when it exists and holds text."""

DEFAULT_HEADER: Final = {"version": "0.4.0"}
"""What pysz 0.4.0 writes when it is given no header."""

MAX_HEADER_BYTES: Final = 1 << 24
"""The longest header a store may carry: 16 MiB of JSON text (UTF-8)."""

MAX_HEADER_DEPTH: Final = 64
"""The deepest a header's lists and objects may nest."""

_JSON_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
"""A JSON string, or an unterminated one up to the end: each match consumes its text,
so removing them all takes one pass whatever the text holds."""

_RESERVED: Final = frozenset({"LENGTH", "OFFSET"})
_GROUP: Final = {"A": "attribute", "D": "dataset"}


def code_of(dtype: object) -> str:
    """The SZ type code of a dtype given as pysz does (``str``, ``np.int16``) or by name.

    Examples
    --------
    >>> import numpy as np
    >>> code_of(str), code_of(np.uint32), code_of("float32"), code_of("F128")
    ('S', 'U32', 'F32', 'F128')
    """
    if isinstance(dtype, str) and dtype in CODES:
        return dtype
    if dtype is str or dtype is np.str_:
        return "S"
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError as exc:
        raise SchemaError(f"unknown SZ data type {dtype!r}; use one of {list(CODES)}") from exc
    for code, candidate in CODES.items():
        if dt == candidate and code != "S":
            return code
    if dt.kind in "UT":
        return "S"
    raise SchemaError(f"SZ cannot store data type {dt}; supported: {list(CODES)}")


@dataclass(frozen=True, slots=True)
class Field:
    """One column of an SZ schema: an attribute (a scalar per read) or a dataset."""

    name: str
    code: str
    group: Literal["A", "D"]

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype of the values (``np.dtype(str)`` for text)."""
        return CODES[self.code]

    @property
    def is_text(self) -> bool:
        return self.code == "S"

    @property
    def has_count(self) -> bool:
        """Whether the index records this dataset's element count (streamvbyte types)."""
        return self.group == "D" and self.code in _COUNTED

    @property
    def column(self) -> str:
        """The index column name, ``name:A:code`` or ``name:D:code``."""
        return f"{self.name}:{self.group}:{self.code}"

    @property
    def python_type(self) -> type:
        """The type pysz uses for this field (``str``, ``np.int16`` ...)."""
        return str if self.is_text else self.dtype.type


def _check_name(name: object, group: str) -> str:
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{_GROUP[group]} names must be non-empty str, got {name!r}")
    bad = [ch for ch in (":", "\t", "\n", "\r") if ch in name]
    if bad:
        raise SchemaError(f"{_GROUP[group]} name {name!r} contains {bad[0]!r}")
    if name in _RESERVED:
        raise SchemaError(f"{name!r} is reserved for the index and cannot name a field")
    return name


@dataclass(frozen=True)
class Schema:
    """The attributes and datasets of an SZ store, in column order."""

    attributes: tuple[Field, ...]
    datasets: tuple[Field, ...]

    @classmethod
    def build(
        cls,
        attributes: Iterable[tuple[str, object]] | Mapping[str, object],
        datasets: Iterable[tuple[str, object]] | Mapping[str, object],
    ) -> Schema:
        """A schema from ``(name, dtype)`` pairs, dtypes given as pysz does.

        Examples
        --------
        >>> import numpy as np
        >>> s = Schema.build([("ID", str), ("Offset", np.int32)], [("Raw", np.int16)])
        >>> s.columns
        ['LENGTH', 'OFFSET', 'ID:A:S', 'Offset:A:I32', 'Raw:D:I16']
        """
        pairs = {
            "A": list(attributes.items() if hasattr(attributes, "items") else attributes),
            "D": list(datasets.items() if hasattr(datasets, "items") else datasets),
        }
        fields: dict[str, list[Field]] = {"A": [], "D": []}
        for group, items in pairs.items():
            for item in items:
                try:
                    name, dtype = item
                except (TypeError, ValueError) as exc:
                    raise SchemaError(
                        f"{_GROUP[group]}s are (name, dtype) pairs, got {item!r}"
                    ) from exc
                fields[group].append(Field(_check_name(name, group), code_of(dtype), group))  # type: ignore[arg-type]
        schema = cls(tuple(fields["A"]), tuple(fields["D"]))
        schema._check_unique()
        return schema

    @classmethod
    def from_columns(cls, columns: list[str]) -> Schema:
        """Parse the second line of an index, already split on TAB."""
        if columns[:2] != ["LENGTH", "OFFSET"]:
            raise SchemaError(f"index columns must start with LENGTH, OFFSET; got {columns[:2]}")
        fields: dict[str, list[Field]] = {"A": [], "D": []}
        for column in columns[2:]:
            parts = column.split(":")
            if len(parts) != 3 or parts[1] not in _GROUP:
                raise SchemaError(f"index column {column!r} is not NAME:A:CODE or NAME:D:CODE")
            name, group, code = parts
            if code not in CODES:
                raise SchemaError(f"index column {column!r} has unknown type code {code!r}")
            if group == "A" and fields["D"]:
                raise SchemaError(f"attribute column {column!r} comes after a dataset column")
            fields[group].append(Field(_check_name(name, group), code, group))  # type: ignore[arg-type]
        schema = cls(tuple(fields["A"]), tuple(fields["D"]))
        schema._check_unique()
        return schema

    def _check_unique(self) -> None:
        seen: set[str] = set()
        for field in self.fields:
            if field.name in seen:
                raise SchemaError(f"field name {field.name!r} appears twice")
            seen.add(field.name)

    @property
    def fields(self) -> tuple[Field, ...]:
        return self.attributes + self.datasets

    @property
    def columns(self) -> list[str]:
        return ["LENGTH", "OFFSET", *(f.column for f in self.fields)]

    @cached_property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def __getitem__(self, name: str) -> Field:
        try:
            return self.by_name[name]
        except KeyError:
            raise FieldNotFoundError(
                f"no field {name!r}; the schema has {list(self.by_name)}"
            ) from None

    @property
    def id_field(self) -> str | None:
        """``"ID"`` when the schema has a text attribute of that name, else ``None``."""
        field = self.by_name.get(ID_FIELD)
        return ID_FIELD if field is not None and field.group == "A" and field.is_text else None


def json_depth(text: str) -> int:
    """How deeply the lists and objects of JSON `text` nest, without parsing it
    (brackets inside strings do not count); one pass, whatever the text holds.

    Examples
    --------
    >>> json_depth('{"a": [1, {"b": "[[[["}]}'), json_depth("7")
    (3, 0)
    """
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8"), np.uint8)
    steps = np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64)
    steps -= np.isin(skeleton, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def load_header(text: bytes) -> dict[str, Any]:
    """The header stored as JSON `text` (line 1 of an index after its ``#``).

    Raises
    ------
    SchemaError
        `text` is not a JSON object, is longer than `MAX_HEADER_BYTES` or nests
        deeper than `MAX_HEADER_DEPTH` (checked before parsing: no deep recursion).
    """
    if len(text) > MAX_HEADER_BYTES:
        raise SchemaError(f"the header is {len(text)} bytes, more than {MAX_HEADER_BYTES}")
    try:
        decoded = text.decode("utf-8")
        depth = json_depth(decoded)
        if depth > MAX_HEADER_DEPTH:
            raise SchemaError(f"the header nests {depth} deep, more than {MAX_HEADER_DEPTH}")
        header = json.loads(decoded)
    except ValueError as exc:  # bad UTF-8 or JSON, an int of too many digits
        if isinstance(exc, SchemaError):
            raise
        raise SchemaError(f"the header is not '#' + a JSON object: {exc}") from exc
    if not isinstance(header, dict):
        raise SchemaError(f"the header holds {type(header).__name__}, not a JSON object")
    return header


def _check_depth(value: object) -> None:
    """Refuse values whose lists and objects nest deeper than `MAX_HEADER_DEPTH`
    (iteratively: a deep value cannot exhaust the stack here)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth >= MAX_HEADER_DEPTH:
                raise SchemaError(f"the header nests deeper than {MAX_HEADER_DEPTH}")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def parse_header(header: object) -> dict[str, Any]:
    """Normalise a header (a mapping, ``(key, value)`` pairs or ``None``) to a dict.

    The dict must survive ``json.dumps``, which is how the index stores it, and
    `load_header` must take it back: at most `MAX_HEADER_DEPTH` deep and
    `MAX_HEADER_BYTES` long.
    """
    if header is None:
        return dict(DEFAULT_HEADER)
    try:
        items = dict(header.items() if hasattr(header, "items") else header)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"a header is a mapping or (key, value) pairs, got {header!r}") from exc
    for key in items:
        if not isinstance(key, str):
            raise SchemaError(f"header keys must be str, got {key!r}")
    _check_depth(items)
    try:
        text = json.dumps(items, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"header is not JSON-serialisable: {exc}") from exc
    if len(text) > MAX_HEADER_BYTES:  # json.dumps escapes non-ASCII: chars are bytes
        raise SchemaError(f"the header is {len(text)} bytes as JSON, more than {MAX_HEADER_BYTES}")
    return items
