"""The anomaly table: every anomaly found in daily spend, its figures, drivers, state and
feedback.

It belongs to the warehouse, not to a connection: deleting a connection leaves it alone. See
`docs/anomalies.md`.
"""

from __future__ import annotations

import pyarrow as pa

from .tables import ROW_KEY, TS, Column, Table, _s

DAY = pa.date32()
DOLLARS = pa.decimal128(38, 9)


def _money(name: str, doc: str) -> Column:
    return Column(name, DOLLARS, False, doc)


ANOMALIES = Table(
    name="anomalies",
    doc="One row per anomaly: a day whose spend in a scope scored at least 3.5 above its "
    "baseline with an impact above the floors, the first day of its episode. Evaluations "
    "re-score the recent days and update the rows that changed (a revised day re-scored, an "
    "episode that ended); feedback is kept with the row.",
    kind="watch",
    columns=(
        ROW_KEY,
        Column(
            "id",
            pa.string(),
            False,
            "The anomaly's identity: the fingerprint of its alert (kind `anomaly`, scope, day).",
        ),
        Column("day", DAY, False, "The day of the anomaly (UTC)."),
        Column(
            "scope",
            pa.string(),
            False,
            "`organization`, or `dimension:value` with the value's key (a workspace or key id).",
        ),
        Column(
            "dimension",
            pa.string(),
            False,
            "`organization`, `connection`, an allocation dimension, `workspace`, `api_key`, "
            "`user` or `model`.",
        ),
        Column("value_key", pa.string(), False, "The value's key; empty for the organization."),
        Column("value_label", pa.string(), False, "What people read for the value."),
        _s("method", "`mad` (14–27 days of history) or `seasonal` (28 and more)."),
        Column(
            "history_days",
            pa.int64(),
            False,
            "Complete days of history before the day (of the 182 read), when it last changed.",
        ),
        _money("actual_usd", "The day's billed cost."),
        _money("expected_usd", "The baseline's expected cost of the day."),
        _money("low_usd", "The band's low end: where the score would be -3.5 (at least 0)."),
        _money("high_usd", "The band's high end: where the score would be 3.5."),
        _money("impact_usd", "actual − expected."),
        Column("score", pa.float64(), False, "The robust z of the day (one decimal)."),
        _s(
            "drivers_json",
            "The values of the child dimensions that explain it, biggest impact first: a JSON "
            "list of {dimension, value, actual, expected, impact}.",
        ),
        Column("last_day", DAY, False, "The last day of its episode still elevated."),
        Column(
            "ongoing",
            pa.bool_(),
            False,
            "Its episode runs through the newest scored day (spend still elevated).",
        ),
        Column(
            "qualifies",
            pa.bool_(),
            False,
            "The day still scores as an anomaly; false once a revision scored it away.",
        ),
        _s("state", "`active`, `past` or `resolved`."),
        _s("reason", "Why it is past or resolved: back_to_normal, revised, expected or muted."),
        _s("feedback", "`expected`, `unexpected`, or null."),
        Column("feedback_at", TS, True, "When the feedback was given."),
        Column("first_seen_at", TS, False, "The evaluation that first found it."),
        Column("changed_at", TS, False, "When its figures, drivers or state last changed."),
    ),
)

ANOMALY_TABLES: tuple[Table, ...] = (ANOMALIES,)
