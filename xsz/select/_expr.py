"""Filter expressions over per-read fields, parsed with `ast` and evaluated on whole
columns with numpy: an allow-list of nodes, nothing of the text is ever run.

The language is a Python expression made of

- field names (`read_columns`: attributes, ``<dataset>_count``,
  ``<dataset>_length``, ``read_id``), numbers and quoted strings;
- comparisons ``== != < <= > >=`` (chains such as ``1 <= channel <= 64``
  too), ``in`` / ``not in`` a tuple, list or set of constants;
- ``and``, ``or``, ``not``, parentheses;
- arithmetic on numbers: ``+ - * / // %`` and unary ``-``.

Text compares with text, numbers with numbers; anything else (a call, an
attribute, a subscript, a lambda ...) is refused, naming what and where.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from xsz.errors import UsageError
from xsz.select._columns import column_values, read_columns, unknown_field

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import numpy.typing as npt

    from xsz.format import SZReader
    from xsz.select._columns import Column

__all__ = ["ReadFilter", "compile_filter", "filter_rows"]

_COMPARE: Final[dict[type[ast.cmpop], Callable[[Any, Any], Any]]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC: Final[dict[type[ast.operator], Callable[[Any, Any], Any]]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_NAMES: Final = {
    ast.Call: "a function call",
    ast.Attribute: "an attribute (x.y)",
    ast.Subscript: "a subscript (x[...])",
    ast.Lambda: "a lambda",
    ast.NamedExpr: "an assignment (:=)",
    ast.IfExp: "a conditional (x if c else y)",
    ast.Is: "'is'",
    ast.IsNot: "'is not'",
    ast.BitAnd: "'&' (use 'and')",
    ast.BitOr: "'|' (use 'or')",
    ast.Invert: "'~' (use 'not')",
    ast.Pow: "'**'",
}

# A value while checking: its kind, and a function of the columns giving it.
_Kind = str  # "text", "number", "bool"
_Eval = tuple[_Kind, "Callable[[Mapping[str, Any]], Any]"]


@dataclass(frozen=True)
class ReadFilter:
    """A checked filter expression: its text, the columns it reads, and its test.

    Call `mask` with the values of `columns` (whole columns or one batch) to get
    a boolean array, one value per read.
    """

    text: str
    columns: tuple[Column, ...]
    _test: Callable[[Mapping[str, Any]], Any]

    def mask(self, values: Mapping[str, np.ndarray[Any, Any]], n: int) -> npt.NDArray[np.bool_]:
        """Which of `n` reads pass, given each column's values by name."""
        wide = {k: _wide(v) for k, v in values.items()}
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(self._test(wide), dtype=bool)
        except (OverflowError, ValueError, TypeError) as exc:  # e.g. a number beyond int64
            raise UsageError(f"filter expression {self.text!r}: {exc}") from None
        return np.broadcast_to(out, (n,)) if out.ndim == 0 else out


def _wide(values: Any) -> Any:
    """Integers as int64 and floats as float64, so arithmetic does not wrap at int32."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f" and arr.dtype != np.longdouble:
        return arr.astype(np.float64, copy=False)
    return arr


def _where(text: str, node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    if col is None:
        return ""
    end = getattr(node, "end_col_offset", None) or col + 1
    return f" at character {col + 1} ({text[col:end]!r})"


def compile_filter(
    text: str, columns: Mapping[str, Column], *, where: object = "store"
) -> ReadFilter:
    """Check `text` against `columns` and compile it into a `ReadFilter`.

    Raises
    ------
    UsageError
        Bad syntax, an unknown field (with the nearest name and the known
        ones), a construct outside the language, or types that do not compare;
        the message names it and where it is in `text`.

    Examples
    --------
    >>> from xsz.select._columns import Column
    >>> cols = {"channel": Column("channel", "attribute", "channel", False)}
    >>> f = compile_filter("channel in (1, 3) or channel > 10", cols)
    >>> f.mask({"channel": np.array([1, 2, 3, 11])}, 4).tolist()
    [True, False, True, True]
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        at = f" at character {exc.offset}" if exc.offset else ""
        raise UsageError(f"filter expression {text!r}: invalid syntax{at} ({exc.msg})") from None
    used: dict[str, Column] = {}

    def bad(node: ast.AST, what: str) -> UsageError:
        return UsageError(f"filter expression {text!r}: {what}{_where(text, node)}")

    def constant(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
            if isinstance(node.value, bool):
                return int(node.value)
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = constant(node.operand)
            if isinstance(value, int | float):
                return -value
        raise bad(node, "'in' takes a tuple, list or set of numbers or quoted strings")

    def kind_of(value: object) -> _Kind:
        return "text" if isinstance(value, str) else "number"

    def visit(node: ast.expr) -> _Eval:
        if isinstance(node, ast.Name):
            column = columns.get(node.id)
            if column is None:
                if node.id in ("true", "false", "none", "null", "True", "False", "None"):
                    raise bad(node, f'{node.id!r} is not a field; quote text as "..."')
                raise UsageError(
                    f"filter expression {text!r}{_where(text, node)}: "
                    + str(unknown_field(node.id, list(columns), where))
                )
            used[column.name] = column
            name = column.name
            return ("text" if column.text else "number"), lambda v: v[name]
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                return "bool", lambda v: value
            if isinstance(value, str | int | float):
                return kind_of(value), lambda v: value
            raise bad(node, f"the constant {value!r} is not a number or a quoted string")
        if isinstance(node, ast.BoolOp):
            parts = [visit(p) for p in node.values]
            for p, (kind, _) in zip(node.values, parts, strict=True):
                if kind != "bool":
                    raise bad(p, "'and'/'or' join conditions, and this is not one")
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            tests = [f for _, f in parts]

            def joined(v: Mapping[str, Any]) -> Any:
                out = tests[0](v)
                for t in tests[1:]:
                    out = combine(out, t(v))
                return out

            return "bool", joined
        if isinstance(node, ast.UnaryOp):
            kind, f = visit(node.operand)
            if isinstance(node.op, ast.Not):
                if kind != "bool":
                    raise bad(node.operand, "'not' takes a condition, and this is not one")
                return "bool", lambda v: np.logical_not(f(v))
            if isinstance(node.op, ast.USub | ast.UAdd):
                if kind != "number":
                    raise bad(node, "a sign takes a number")
                if isinstance(node.op, ast.USub):
                    return "number", lambda v: -f(v)
                return "number", f
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            (lk, lf), (rk, rf) = visit(node.left), visit(node.right)
            for side, k in ((node.left, lk), (node.right, rk)):
                if k != "number":
                    raise bad(side, "arithmetic takes numbers, and this is not one")
            op = _ARITHMETIC[type(node.op)]
            return "number", lambda v: op(lf(v), rf(v))
        if isinstance(node, ast.Compare):
            return "bool", compare(node)
        what = _NAMES.get(type(node)) or _NAMES.get(type(getattr(node, "op", None)))
        raise bad(node, f"{what or type(node).__name__} is not allowed in a filter")

    def compare(node: ast.Compare) -> Callable[[Mapping[str, Any]], Any]:
        tests = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            lk, lf = visit(left)
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, ast.Tuple | ast.List | ast.Set):
                    raise bad(right, "'in' takes a tuple, list or set of constants, e.g. (1, 2)")
                values = [constant(e) for e in right.elts]
                for e, value in zip(right.elts, values, strict=True):
                    if kind_of(value) != lk:
                        raise bad(e, f"{value!r} cannot match a {lk} field")
                if lk == "text":
                    values = [str(x) for x in values]
                negate = isinstance(op, ast.NotIn)
                tests.append(
                    _member(lf, np.asarray(values, dtype=object if lk == "text" else None), negate)
                )
            elif type(op) in _COMPARE:
                rk, rf = visit(right)
                if lk != rk or lk == "bool":
                    raise bad(node, f"cannot compare {lk} with {rk}")
                tests.append(_binary(_COMPARE[type(op)], lf, rf))
            else:
                raise bad(
                    node, f"{_NAMES.get(type(op), type(op).__name__)} is not allowed in a filter"
                )
            left = right

        def chained(v: Mapping[str, Any]) -> Any:
            out = tests[0](v)
            for t in tests[1:]:
                out = np.logical_and(out, t(v))
            return out

        return chained

    kind, test = visit(tree.body)
    if kind != "bool":
        raise bad(tree.body, "the expression must be a condition (e.g. Raw_count > 4000)")
    return ReadFilter(text, tuple(used.values()), test)


def _member(
    f: Callable[[Mapping[str, Any]], Any], values: np.ndarray[Any, Any], negate: bool
) -> Callable[[Mapping[str, Any]], Any]:
    def test(v: Mapping[str, Any]) -> Any:
        got = np.isin(np.asarray(f(v)), values)
        return ~got if negate else got

    return test


def _binary(
    op: Callable[[Any, Any], Any],
    lf: Callable[[Mapping[str, Any]], Any],
    rf: Callable[[Mapping[str, Any]], Any],
) -> Callable[[Mapping[str, Any]], Any]:
    return lambda v: op(lf(v), rf(v))


def filter_rows(reader: SZReader, text: str) -> npt.NDArray[np.int64]:
    """The rows of `reader` whose reads pass the filter expression `text`, in row order.

    Raises
    ------
    UsageError
        As `compile_filter`, naming the store.
    """
    read_filter = compile_filter(text, read_columns(reader), where=reader.path)
    values = {c.name: column_values(reader, c) for c in read_filter.columns}
    return np.flatnonzero(read_filter.mask(values, len(reader))).astype(np.int64)
