"""The value rules: every numeric form the API can send, read exactly or refused clearly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from spendscope.sources.values import (
    INT64_MAX,
    INT64_MIN,
    MONEY_MAX_CENTS,
    Unrepresentable,
    checked_arrow,
    choice,
    count,
    integer,
    money,
    raw_json,
    text,
    timestamp,
)
from spendscope.upstream.client import decode_json
from spendscope.warehouse.tables import CLAUDE_CODE_MODELS, MONEY

NANO = Decimal("1e-9")
FAST = settings(max_examples=200, deadline=None, derandomize=True)


def rounded(d: Decimal) -> Decimal:
    """The documented rule, stated independently: 9 decimals of a cent, half to even."""
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    wide = Context(prec=60)
    return d.quantize(NANO, rounding=ROUND_HALF_EVEN, context=wide) if exponent < -9 else d


# -- counters ---------------------------------------------------------------------------------


@FAST
@given(st.integers(min_value=INT64_MIN, max_value=INT64_MAX))
@example(2**53 + 1)
@example(INT64_MAX)
@example(INT64_MIN)
def test_int64_counters_are_exact_in_every_form(n: int) -> None:
    assert integer(n, "x") == n
    assert integer(str(n), "x") == n
    assert integer(json.loads(json.dumps(n)), "x") == n
    assert decode_json(json.dumps({"n": n}).encode()) == {"n": n}


@FAST
@given(
    st.one_of(
        st.integers(min_value=INT64_MAX + 1, max_value=10**60),
        st.integers(min_value=-(10**60), max_value=INT64_MIN - 1),
    )
)
@example(2**63)
@example(-(2**63) - 1)
@example(2**64)
@example(10**30)
def test_counters_beyond_int64_are_unrepresentable(n: int) -> None:
    # The decoder keeps them exact (orjson alone would turn some into floats) ...
    assert decode_json(json.dumps({"n": n}).encode()) == {"n": n}
    # ... and the rule refuses them, in every form.
    for form in (n, str(n)):
        with pytest.raises(Unrepresentable, match="out of the int64 range"):
            integer(form, "output_tokens")


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_counters_are_whole_or_refused(x: float) -> None:
    if x.is_integer() and INT64_MIN <= int(x) <= INT64_MAX:
        assert integer(x, "x") == int(x)
    else:
        with pytest.raises(Unrepresentable):
            integer(x, "x")


@pytest.mark.parametrize(
    "value", [True, False, "12.5", "", "twelve", " 12", "1_000", "NaN", "Infinity", [1], {"a": 1}]
)
def test_counters_refuse_what_is_not_a_whole_number(value: Any) -> None:
    with pytest.raises(Unrepresentable):
        integer(value, "x")


def test_missing_counters_are_zero_and_nullable_ones_stay_null() -> None:
    assert count(None, "x") == 0
    assert integer(None, "x") is None
    assert integer("12.0", "x") == 12
    assert integer(float("1e18"), "x") == 10**18


def test_a_huge_literal_never_fails_the_page() -> None:
    body = b'{"data": [{"n": 1' + b"0" * 5000 + b'}, {"n": 2}]}'
    page = decode_json(body)
    assert page is not None
    assert page["data"][1] == {"n": 2}
    with pytest.raises(Unrepresentable):
        integer(page["data"][0]["n"], "n")


def test_decoder_rejects_what_is_not_json() -> None:
    for body in (b"", b"{", b'{"a": NaN}', b"<html>", b'{"a": 1', b"\xff\xfe"):
        assert decode_json(body) is None
    assert decode_json(b'{"a": 1e400}') == {"a": float("inf")}  # refused later, per value


# -- money ------------------------------------------------------------------------------------


decimal_texts = st.decimals(allow_nan=False, allow_infinity=False, places=None).map(
    lambda d: format(d, "f")
)


@FAST
@given(decimal_texts)
@example("0.0000000005")
@example("0.0000000015")
@example("-0.0000000025")
@example("1484.770295")
@example("0." + "0" * 200 + "1")
def test_decimal_strings_are_exact_then_rounded_once(s: str) -> None:
    exact = Decimal(s)
    if exact.adjusted() >= 29 or abs(rounded(exact)) * 10**9 > 2**63 - 1:
        with pytest.raises(Unrepresentable):
            money(s, "amount")
        return
    got = money(s, "amount")
    assert got == rounded(exact)
    assert got is not None
    assert got.as_tuple().exponent >= -9  # fits the column without rescaling


@FAST
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-9e9, max_value=9e9))
@example(27.123499999999996)
@example(123.71)
@example(0.1 + 0.2)
def test_json_floats_are_read_through_their_shortest_text(x: float) -> None:
    got = money(x, "estimated_cost.amount")
    assert got == rounded(Decimal(repr(x)))
    # Arrow takes it without "Rescaling Decimal value would cause data loss".
    assert pa.array([got], MONEY)[0].as_py() == got


def test_the_float_tail_that_used_to_abort_every_feed() -> None:
    assert money(27.123499999999996, "a") == Decimal("27.123500000")
    assert money(decode_json(b'{"a": 27.123499999999996}')["a"], "a") == Decimal("27.1235")


@FAST
@given(st.integers(min_value=-(10**40), max_value=10**40))
@example(9_223_372_036)
@example(9_223_372_037)
def test_integer_amounts(n: int) -> None:
    if abs(n) * 10**9 > 2**63 - 1:  # more than one row holds (about 92 million dollars)
        with pytest.raises(Unrepresentable):
            money(n, "amount")
    else:
        assert money(n, "amount") == Decimal(n)


def test_the_largest_amount_one_row_holds() -> None:
    assert money("9223372036.854775807", "a") == MONEY_MAX_CENTS
    assert money("-9223372036.854775807", "a") == -MONEY_MAX_CENTS
    with pytest.raises(Unrepresentable, match="most one row holds"):
        money("9223372036.854775808", "a")


@pytest.mark.parametrize(
    "value", [True, "", "12.3.4", "1,5", "NaN", "-Infinity", "12 USD", "\u0661\u0662", [], {}]
)
def test_money_refuses_what_is_not_an_amount(value: Any) -> None:
    with pytest.raises(Unrepresentable):
        money(value, "amount")


def test_required_money() -> None:
    assert money(None, "amount") is None
    with pytest.raises(Unrepresentable, match="amount is missing"):
        money(None, "amount", required=True)
    with pytest.raises(Unrepresentable):
        money(float("nan"), "amount")


# -- text, enums, timestamps ------------------------------------------------------------------


@FAST
@given(st.text())
def test_any_valid_text_is_kept_as_sent(s: str) -> None:
    assert text(s, "model") == s


def test_text_refusals_and_key_enums() -> None:
    for value in (5, 1.5, True, "\ud800"):
        with pytest.raises(Unrepresentable):
            text(value, "model")
    assert choice("api_actor", {"api_actor", "user_actor"}, "actor.type") == "api_actor"
    assert choice(None, {"api_actor"}, "actor.type") is None
    with pytest.raises(Unrepresentable, match="is not one of"):
        choice("robot_actor", {"api_actor", "user_actor"}, "actor.type")


def test_timestamps() -> None:
    day = datetime(2026, 11, 10, tzinfo=UTC)
    assert timestamp("2026-11-10T00:00:00Z", "t") == day
    assert timestamp("2026-11-10", "t") == day
    for bad in ("yesterday", "2026-13-40", 20261110, "\x00"):
        with pytest.raises(Unrepresentable):
            timestamp(bad, "t")
    with pytest.raises(Unrepresentable, match="missing"):
        timestamp(None, "t", required=True)


def test_raw_json_never_fails() -> None:
    assert raw_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    assert "\\ud800" in raw_json({"a": "\ud800"})
    assert raw_json({"n": 10**30}) == '{"n":1000000000000000000000000000000}'


# -- the checked conversion -------------------------------------------------------------------


def _model_row(**overrides: Any) -> dict[str, Any]:
    day = datetime(2026, 11, 10, tzinfo=UTC)
    row = {
        "row_key": "k",
        "connection_label": "c",
        "bucket_start": day,
        "bucket_end": day,
        "actor_type": "user_actor",
        "actor_email": "a@example.com",
        "api_key_name": None,
        "model": "claude-sonnet-5",
        "input_tokens": 1,
        "output_tokens": 2,
        "cache_read_tokens": 3,
        "cache_creation_tokens": 4,
        "estimated_cost_cents": Decimal("1.25"),
        "fetched_at": day,
        "is_provisional": False,
        "data_refreshed_at": None,
    }
    row.update(overrides)
    return row


def test_checked_arrow_sets_aside_only_the_rows_it_cannot_hold() -> None:
    rows = [
        _model_row(row_key="ok"),
        _model_row(row_key="tail", estimated_cost_cents=Decimal("27.123499999999996")),
        _model_row(row_key="huge", input_tokens=2**63),
        _model_row(row_key="type", model=7),
        _model_row(row_key="null", connection_label=None),
        _model_row(row_key="surrogate", model="\ud800"),
        _model_row(row_key="float", output_tokens=2.0),
    ]
    data, kept, rejected = checked_arrow(CLAUDE_CODE_MODELS, rows)
    assert [r["row_key"] for r in kept] == ["ok", "tail", "float"]
    assert data.num_rows == 3
    assert data.column("estimated_cost_cents")[1].as_py() == Decimal("27.123500000")
    assert data.column("output_tokens")[2].as_py() == 2
    reasons = {row["row_key"]: reason for row, reason in rejected}
    assert set(reasons) == {"huge", "type", "null", "surrogate"}
    assert "int64" in reasons["huge"]
    assert "connection_label is missing" in reasons["null"]


def test_checked_arrow_of_clean_rows_is_plain_arrow() -> None:
    rows = [_model_row(row_key=str(i), input_tokens=i) for i in range(100)]
    data, kept, rejected = checked_arrow(CLAUDE_CODE_MODELS, rows)
    assert data.num_rows == 100
    assert not rejected
    assert len(kept) == 100
    assert data.schema == CLAUDE_CODE_MODELS.arrow_schema()


def test_checked_arrow_rounds_and_bounds_money_that_arrived_as_decimals() -> None:
    # Sums of rows (merged by key) are Decimals already: Arrow refuses the extra decimals, the
    # rule rounds them; a sum beyond what one row holds is set aside.
    rows = [
        _model_row(row_key="a", estimated_cost_cents=Decimal("1.1234567895")),
        _model_row(row_key="b", estimated_cost_cents=Decimal("9999999999.5")),
        _model_row(row_key="c", estimated_cost_cents=Decimal("-0.0000000005")),
    ]
    data, kept, rejected = checked_arrow(CLAUDE_CODE_MODELS, rows)
    assert [r["row_key"] for r in kept] == ["a", "c"]
    assert data.column("estimated_cost_cents").to_pylist() == [
        Decimal("1.123456790"),  # half to even: ...89|5 -> ...90
        Decimal("0E-9"),  # -0.0000000005 -> -0 (half to even)
    ]
    assert [row["row_key"] for row, _ in rejected] == ["b"]
    assert "most one row holds" in rejected[0][1]
