"""The row-filter language of declared analyses: parse → render → parse is the identity, the
vectorised evaluation equals a row-by-row three-valued reference, and no text makes it do anything but
return a filter or raise WhereError."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuesurvey.analyses._where import (
    And,
    Comparison,
    Membership,
    Not,
    Or,
    WhereError,
    parse_where,
    render,
)

ROWS = pd.DataFrame(
    {
        "persona": ["none", "cn", "us", None, "it's", "cn"],
        "rep": [0.0, 1.0, 2.0, 3.0, np.nan, 2.5],
        "flag": [True, False, True, False, True, False],
    }
)
TEXT = st.sampled_from(["none", "cn", "us", "it's", 'say "hi"', "back\\slash", ""])
NUMBER = st.sampled_from([0.0, 1.0, 2.0, 2.5, -1.0, 1e-3, 3.0])
BOOL = st.booleans()


def _leaf() -> st.SearchStrategy:
    text = st.one_of(
        st.builds(Comparison, st.just("persona"), st.sampled_from(["==", "!="]), TEXT),
        st.builds(
            Membership, st.just("persona"), st.lists(TEXT, min_size=1, max_size=3).map(tuple), st.booleans()
        ),
    )
    number = st.one_of(
        st.builds(Comparison, st.just("rep"), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), NUMBER),
        st.builds(
            Membership, st.just("rep"), st.lists(NUMBER, min_size=1, max_size=3).map(tuple), st.booleans()
        ),
    )
    boolean = st.builds(Comparison, st.just("flag"), st.sampled_from(["==", "!="]), BOOL)
    return st.one_of(text, number, boolean)


NODES = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: And(tuple(ops))),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: Or(tuple(ops))),
    ),
    max_leaves=8,
)


def _reference(node, row: dict) -> bool | None:
    """Row-by-row SQL three-valued logic: None is unknown."""
    if isinstance(node, Comparison | Membership):
        value = row[node.column]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(node, Membership):
            hit = value in node.values
            return not hit if node.negated else hit
        return {
            "==": value == node.value,
            "!=": value != node.value,
            "<": value < node.value,
            "<=": value <= node.value,
            ">": value > node.value,
            ">=": value >= node.value,
        }[node.op]
    if isinstance(node, Not):
        inner = _reference(node.operand, row)
        return None if inner is None else not inner
    values = [_reference(op, row) for op in node.operands]
    if isinstance(node, And):
        if any(v is False for v in values):
            return False
        return None if any(v is None for v in values) else True
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


@settings(max_examples=300, deadline=None)
@given(NODES)
def test_render_then_parse_gives_the_same_tree(node) -> None:
    assert parse_where(render(node)).node == node


@settings(max_examples=300, deadline=None)
@given(NODES)
def test_mask_equals_row_by_row_three_valued_logic(node) -> None:
    mask = parse_where(render(node)).mask(ROWS)
    expected = [_reference(node, row) is True for row in ROWS.to_dict("records")]
    assert mask.tolist() == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab =!<>'\"()[],.01-_ainotrufesl\\")), max_size=40))
def test_any_text_parses_or_raises_where_error(text: str) -> None:
    try:
        where = parse_where(text)
    except WhereError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert where.node is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("persona = 'none'", "at character 9: '=' is not an operator"),
        ("persona == none", "at character 12: expected a value; quote text values"),
        ("persona == 'none", "a string is not closed"),
        ("persona == 'none' && rep > 1", "'&' is not an operator; use and, or, not"),
        ("(persona == 'none'", "expected ')', found the end of the filter"),
        ("persona in 'none'", "expected '[' starting a list of values"),
        ("", "the filter is empty"),
        ("persona == 'none' rep > 1", "expected and, or, or the end of the filter, found 'rep'"),
        ("__import__('os')", "expected an operator after '__import__'"),
    ],
)
def test_errors_say_where_and_what(text: str, message: str) -> None:
    with pytest.raises(WhereError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_where(text)


def test_type_errors_name_the_column_and_its_kind() -> None:
    with pytest.raises(WhereError, match="column 'rep' is numeric; compare it with a number, not 'two'"):
        parse_where("rep == 'two'").mask(ROWS)
    with pytest.raises(WhereError, match="column 'persona' is text: use == or != \\(or in\\), not <"):
        parse_where("persona < 'z'").mask(ROWS)
    with pytest.raises(
        WhereError, match="column 'nope' is not in the data table; columns are: persona, rep, flag"
    ):
        parse_where("nope == 1").mask(ROWS)


def test_mapping_form_and_missing_values() -> None:
    where = parse_where({"persona": ["cn", "us"], "rep": 2})
    assert where.text == "persona in ['cn', 'us'] and rep in [2]"
    assert where.mask(ROWS).tolist() == [False, False, True, False, False, False]
    # a missing value matches neither a comparison nor its negation
    assert parse_where("persona != 'cn'").mask(ROWS).tolist() == [True, False, True, False, True, False]
    assert parse_where("not persona == 'cn'").mask(ROWS).tolist() == [True, False, True, False, True, False]
    assert parse_where("flag == true or rep >= 2.5").mask(ROWS).tolist() == [
        True,
        False,
        True,
        True,
        True,
        True,
    ]
    with pytest.raises(WhereError, match="the list of allowed values is empty"):
        parse_where({"persona": []})
