"""Row filters of declared analyses: a small expression language, parsed, never evaluated as Python.

Grammar (keywords are case-sensitive; strings in single or double quotes, ``\\`` escapes a quote)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := column ("==" | "!=" | "<" | "<=" | ">" | ">=") literal
                | column ["not"] "in" "[" literal ("," literal)* [","] "]"
    literal    := string | number | true | false

A mapping ``{column: value or [values]}`` is the same as ``column in [values] and ...``.

>>> import pandas as pd
>>> rows = pd.DataFrame({"persona": ["none", "cn", "us"], "rep": [0, 1, 2]})
>>> where = parse_where("persona in ['cn', 'us'] and rep >= 2")
>>> where.mask(rows).tolist()
[False, False, True]
>>> where.text
"persona in ['cn', 'us'] and rep >= 2"
>>> sorted(where.columns)
['persona', 'rep']
>>> parse_where({"persona": "none"}).mask(rows).tolist()
[True, False, False]
>>> parse_where("persona = 'none'")
Traceback (most recent call last):
valuesurvey.analyses._where.WhereError: at character 9: '=' is not an operator; use ==, !=, <, <=, >, >=, in, not in
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import pandas as pd

__all__ = ["And", "Comparison", "Membership", "Not", "Or", "Where", "WhereError", "parse_where"]

Value = Union[str, float, bool]  # noqa: UP007
COMPARISON_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})


class WhereError(ValueError):
    """A filter that cannot be parsed or does not fit the table (the message says where and why)."""


# ----------------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Comparison:
    column: str
    op: str
    value: Value


@dataclass(frozen=True)
class Membership:
    column: str
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Union[Comparison, Membership, Not, And, Or]  # noqa: UP007


def render_literal(value: Value) -> str:
    """A literal as the filter language writes it.

    >>> render_literal("it's"), render_literal(2.0), render_literal(0.5), render_literal(True)
    ("'it\\\\'s'", '2', '0.5', 'true')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render(node: Node) -> str:
    """The canonical text of a filter tree (parsing it gives the same tree back)."""
    if isinstance(node, Comparison):
        return f"{node.column} {node.op} {render_literal(node.value)}"
    if isinstance(node, Membership):
        values = ", ".join(render_literal(v) for v in node.values)
        return f"{node.column} {'not in' if node.negated else 'in'} [{values}]"
    if isinstance(node, Not):
        inner = render(node.operand)
        return f"not {inner}" if isinstance(node.operand, Comparison | Membership | Not) else f"not ({inner})"
    joiner = " and " if isinstance(node, And) else " or "
    parts = []
    for operand in node.operands:
        text = render(operand)
        # "a and b and c" parses flat, so a nested operand of the same kind was written in brackets
        grouped = isinstance(operand, type(node)) or (isinstance(node, And) and isinstance(operand, Or))
        parts.append(f"({text})" if grouped else text)
    return joiner.join(parts)


def node_columns(node: Node) -> set[str]:
    if isinstance(node, Comparison | Membership):
        return {node.column}
    if isinstance(node, Not):
        return node_columns(node.operand)
    return set().union(*(node_columns(op) for op in node.operands))


# ------------------------------------------------------------------------------------------- lexing

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, punct, end
    text: str
    position: int  # 1-based character position, for messages


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            char = text[position]
            if char == "=":
                hint = "'=' is not an operator; use ==, !=, <, <=, >, >=, in, not in"
            elif char in "'\"":
                hint = "a string is not closed"
            elif char in "&|!":
                hint = f"{char!r} is not an operator; use and, or, not"
            else:
                hint = f"unexpected character {char!r}"
            raise WhereError(f"at character {position + 1}: {hint}")
        kind = match.lastgroup or ""
        if kind != "space":
            word = match.group()
            if kind == "name" and word in KEYWORDS:
                kind = "keyword"
            yield _Token(kind, word, position + 1)
        position = match.end()
    yield _Token("end", "", len(text) + 1)


# ------------------------------------------------------------------------------------------ parsing


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.at = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def fail(self, message: str) -> WhereError:
        token = self.token
        found = "the end of the filter" if token.kind == "end" else repr(token.text)
        return WhereError(f"at character {token.position}: {message}, found {found}")

    def take(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            self.at += 1
            return token
        return None

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise WhereError("the filter is empty; write e.g. persona == 'none'")
        node = self.or_expr()
        if self.token.kind != "end":
            raise self.fail("expected and, or, or the end of the filter")
        return node

    def or_expr(self) -> Node:
        operands = [self.and_expr()]
        while self.take("keyword", "or"):
            operands.append(self.and_expr())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.take("keyword", "and"):
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def not_expr(self) -> Node:
        if self.take("keyword", "not"):
            return Not(self.not_expr())
        if self.take("punct", "("):
            node = self.or_expr()
            if not self.take("punct", ")"):
                raise self.fail("expected ')'")
            return node
        return self.comparison()

    def comparison(self) -> Node:
        column = self.take("name")
        if column is None:
            raise self.fail("expected a column name")
        if self.take("keyword", "not"):
            if not self.take("keyword", "in"):
                raise self.fail("expected 'in' after 'not'")
            return Membership(column.text, self.literal_list(), negated=True)
        if self.take("keyword", "in"):
            return Membership(column.text, self.literal_list())
        op = self.take("op")
        if op is None:
            raise self.fail(f"expected an operator after {column.text!r} (==, !=, <, <=, >, >=, in, not in)")
        return Comparison(column.text, op.text, self.literal())

    def literal_list(self) -> tuple[Value, ...]:
        if not self.take("punct", "["):
            raise self.fail("expected '[' starting a list of values")
        values = [self.literal()]
        while self.take("punct", ","):
            if self.token.kind == "punct" and self.token.text == "]":
                break
            values.append(self.literal())
        if not self.take("punct", "]"):
            raise self.fail("expected ',' or ']'")
        return tuple(values)

    def literal(self) -> Value:
        token = self.token
        if self.take("string"):
            return _unquote(token.text)
        if self.take("number"):
            value = float(token.text)
            if not math.isfinite(value):
                raise WhereError(f"at character {token.position}: {token.text} is not a finite number")
            return value
        if self.take("keyword", "true"):
            return True
        if self.take("keyword", "false"):
            return False
        if token.kind == "name":
            raise self.fail("expected a value; quote text values, e.g. 'none'")
        raise self.fail("expected a value (a quoted string, a number, true or false)")


# --------------------------------------------------------------------------------------- evaluation


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    return "text"


def _literal_kind(value: Value) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "text" if isinstance(value, str) else "numeric"


def _check_type(series: pd.Series, column: str, value: Value) -> None:
    kind, given = _kind(series), _literal_kind(value)
    if kind != given:
        example = {"text": "a quoted string", "numeric": "a number", "boolean": "true or false"}[kind]
        raise WhereError(
            f"column {column!r} is {kind}; compare it with {example}, not {render_literal(value)}"
        )


def _values(series: pd.Series) -> pd.Series:
    if _kind(series) == "text":
        return series.astype(object).where(series.notna(), None)
    return series


def _compare(node: Comparison, series: pd.Series) -> np.ndarray:
    _check_type(series, node.column, node.value)
    if _kind(series) != "numeric" and node.op not in ("==", "!="):
        raise WhereError(f"column {node.column!r} is {_kind(series)}: use == or != (or in), not {node.op}")
    values = _values(series)
    value = node.value
    result = {
        "==": lambda x: x == value,
        "!=": lambda x: x != value,
        "<": lambda x: x < value,
        ">": lambda x: x > value,
        "<=": lambda x: x <= value,
        ">=": lambda x: x >= value,
    }[node.op](values)
    return np.asarray(result, dtype=bool)


def _evaluate(node: Node, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(true, false) masks: SQL's three-valued logic, so a comparison with a missing value is
    neither true nor false, and ``not`` keeps it so."""
    if isinstance(node, Comparison | Membership):
        series = frame[node.column]
        present = series.notna().to_numpy()
        if isinstance(node, Comparison):
            hit = _compare(node, series)
        else:
            for value in node.values:
                _check_type(series, node.column, value)
            hit = _values(series).isin(list(node.values)).to_numpy(dtype=bool)
            if node.negated:
                hit = ~hit
        return hit & present, ~hit & present
    if isinstance(node, Not):
        true, false = _evaluate(node.operand, frame)
        return false, true
    parts = [_evaluate(operand, frame) for operand in node.operands]
    trues = np.array([t for t, _ in parts])
    falses = np.array([f for _, f in parts])
    if isinstance(node, And):
        return trues.all(axis=0), falses.any(axis=0)
    return trues.any(axis=0), falses.all(axis=0)


@dataclass(frozen=True)
class Where:
    """A parsed row filter: ``mask(frame)`` selects rows; ``text`` is its canonical form."""

    node: Node | None

    @property
    def text(self) -> str:
        return "" if self.node is None else render(self.node)

    @property
    def columns(self) -> set[str]:
        return set() if self.node is None else node_columns(self.node)

    def check_columns(self, available: Sequence[str], table: str) -> None:
        """Raise :class:`WhereError` naming the first unknown column and listing ``available``."""
        unknown = sorted(self.columns - set(available))
        if unknown:
            raise WhereError(
                f"column {unknown[0]!r} is not in the {table} table; columns are: {', '.join(available)}"
            )

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows the filter keeps (a missing value never matches, even with !=)."""
        if self.node is None:
            return np.ones(len(frame), dtype=bool)
        self.check_columns(list(frame.columns), "data")
        return _evaluate(self.node, frame)[0]


def _from_mapping(mapping: Mapping[str, object]) -> Node | None:
    operands: list[Node] = []
    for column, allowed in mapping.items():
        if not isinstance(column, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", column):
            raise WhereError(f"{column!r} is not a column name")
        values = allowed if isinstance(allowed, list | tuple) else [allowed]
        if not values:
            raise WhereError(f"{column}: the list of allowed values is empty")
        literals: list[Value] = []
        for value in values:
            if isinstance(value, bool | str):
                literals.append(value)
            elif isinstance(value, int | float) and math.isfinite(value):
                literals.append(float(value))
            else:
                raise WhereError(f"{column}: {value!r} is not a string, number, true or false")
        operands.append(Membership(column, tuple(literals)))
    if not operands:
        return None
    return operands[0] if len(operands) == 1 else And(tuple(operands))


def parse_where(spec: str | Mapping[str, object] | None) -> Where:
    """Parse a filter: an expression (module docstring), a mapping column → allowed values, or None.

    Raises :class:`WhereError` (a ``ValueError``) saying at which character and what was expected.
    """
    if spec is None:
        return Where(None)
    if isinstance(spec, Mapping):
        return Where(_from_mapping(spec))
    if not isinstance(spec, str):
        raise WhereError("write the filter as text (persona == 'none') or a mapping {persona: none}")
    return Where(_Parser(spec).parse())
