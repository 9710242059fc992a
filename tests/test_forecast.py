"""Month-end forecasts: the method and state by history length, weekday awareness, a band whose
coverage is measured near 80 %, staleness by the clock, children that add up to their parent to
the cent; then the same through the CLI, the API and a running `serve` over a synced warehouse,
where today and provisional days are never complete."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from conftest import NOW, copy_home
from serving import Serve
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.watch.forecast import (
    INSUFFICIENT_HISTORY,
    LOW_CONFIDENCE,
    OK,
    RUN_RATE,
    SEASONAL,
    STALE,
    WEEKDAY_PROFILE,
    Day,
    MonthForecast,
    forecast_month,
    reconcile,
)

TODAY = NOW.date()
ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}


def series(
    n: int,
    through: date,
    weekday: str = "100",
    weekend: str = "10",
    noise: float = 0.0,
    seed: int = 1,
) -> list[Day]:
    """`n` days ending `through`: `weekday` on Monday–Friday, `weekend` on Saturday and Sunday,
    times lognormal noise of `noise` (seeded)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        d = through - timedelta(days=n - 1 - i)
        base = Decimal(weekday if d.weekday() < 5 else weekend)
        factor = Decimal(str(round(rng.lognormvariate(0, noise), 6))) if noise else Decimal(1)
        out.append((d, base * factor))
    return out


def close(a: Decimal, b: Decimal) -> bool:
    """Equal but for the last of Decimal's 28 digits."""
    return abs(a - b) < Decimal("1e-9")


def at_noon(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, 12, tzinfo=UTC)


# -- methods and states -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "method", "state"),
    [
        (2, None, INSUFFICIENT_HISTORY),
        (3, RUN_RATE, LOW_CONFIDENCE),
        (13, RUN_RATE, LOW_CONFIDENCE),
        (14, WEEKDAY_PROFILE, LOW_CONFIDENCE),
        (27, WEEKDAY_PROFILE, LOW_CONFIDENCE),
        (28, SEASONAL, LOW_CONFIDENCE),
        (150, SEASONAL, OK),
    ],
)
def test_the_method_steps_up_with_complete_days(n: int, method: str | None, state: str) -> None:
    f = forecast_month(series(n, TODAY - timedelta(days=1)), NOW)
    assert (f.history_days, f.method, f.state) == (n, method, state)
    assert f.month == date(2026, 11, 1)
    assert f.remaining_days == 9  # Nov 22 (today, partial) through Nov 30
    if method is None:
        assert (f.p10, f.p50, f.p90) == (None, None, None)
        assert "3 are needed" in f.notes[0]
    else:
        assert f.p10 is not None
        assert f.p50 is not None
        assert f.p90 is not None
        assert f.p10 <= f.p50 <= f.p90
        assert f.p50 > f.actual > 0
    if state == LOW_CONFIDENCE and method != RUN_RATE:
        assert any("band not measured" in note for note in f.notes)


def test_month_to_date_counts_complete_days_only() -> None:
    days = series(60, date(2026, 11, 18))  # complete through the 18th: 19th–21st provisional
    f = forecast_month(days, NOW)
    assert f.through == date(2026, 11, 18)
    assert f.actual == sum(v for d, v in days if d >= date(2026, 11, 1))
    assert f.remaining_days == 12  # the 19th to the 30th are forecast, today included
    # A noiseless weekly rhythm is forecast exactly, day by day.
    nov = [date(2026, 11, 19) + timedelta(days=i) for i in range(12)]
    assert close(f.remaining, sum(Decimal(100 if d.weekday() < 5 else 10) for d in nov))
    assert f.p50 == f.actual + f.remaining


def test_no_zero_padding_before_the_first_day_with_spend() -> None:
    f = forecast_month(series(5, TODAY - timedelta(days=1)), NOW)
    assert f.history_days == 5
    assert f.method == RUN_RATE
    # The run rate is the mean of the five days, not diluted by days before them.
    days = series(5, TODAY - timedelta(days=1))
    assert close(f.remaining, sum(v for _, v in days) / 5 * 9)


def test_quiet_weekends_forecast_less_when_more_weekend_days_are_left() -> None:
    # Two months, forecast with the same number of days left: December 2026 from the 23rd
    # (9 days left, 2 of them weekend days), January 2027 from the 23rd (9 days, 4 weekend).
    dec = forecast_month(series(120, date(2026, 12, 22)), at_noon(date(2026, 12, 23)))
    jan = forecast_month(series(120, date(2027, 1, 22)), at_noon(date(2027, 1, 23)))
    assert dec.remaining_days == jan.remaining_days == 9
    assert close(dec.remaining, Decimal(7 * 100 + 2 * 10))
    assert close(jan.remaining, Decimal(5 * 100 + 4 * 10))
    assert jan.remaining < dec.remaining
    # A run rate would not have known the difference.
    short = forecast_month(series(10, date(2027, 1, 22)), at_noon(date(2027, 1, 23)))
    assert short.method == RUN_RATE


def test_a_spike_does_not_lift_the_level_for_weeks() -> None:
    days = series(120, TODAY - timedelta(days=1))
    spiked = [(d, v * 4 if d == TODAY - timedelta(days=10) else v) for d, v in days]
    plain = forecast_month(days, NOW)
    after = forecast_month(spiked, NOW)
    assert after.remaining < plain.remaining * Decimal("1.2")


def test_the_band_covers_about_80_percent_of_month_ends() -> None:
    """Forecasts from every other day of eight months of a noisy weekly series: the month's
    true total falls inside P10–P90 about 80 % of the time."""
    days = series(480, date(2026, 10, 31), noise=0.3, seed=7)
    index = {d: i for i, (d, _) in enumerate(days)}
    inside = total = 0
    for month in range(3, 11):  # March to October 2026
        start = date(2026, month, 1)
        end = date(2026, month + 1, 1)
        actual = sum(v for d, v in days if start <= d < end)
        for day in range(1, (end - start).days, 2):
            through = start + timedelta(days=day - 1)
            f = forecast_month(days[: index[through] + 1], at_noon(through + timedelta(days=1)))
            assert f.state == OK
            assert f.p10 is not None
            assert f.p90 is not None
            inside += f.p10 <= actual <= f.p90
            total += 1
    assert total > 100
    assert 0.7 <= inside / total <= 0.92, inside / total


def test_too_few_origins_widen_the_band_and_say_so() -> None:
    f = forecast_month(series(30, TODAY - timedelta(days=1), noise=0.3), NOW)
    assert f.state == LOW_CONFIDENCE
    assert f.origins < 10
    assert f.p10 is not None
    assert f.p90 is not None
    assert f.p50 is not None
    assert f.p90 - f.p50 > (f.p50 - f.actual) * Decimal("0.1")
    assert any("band not measured" in n and "widened" in n for n in f.notes)


def test_stale_when_the_newest_complete_day_ended_more_than_48_hours_ago() -> None:
    days = series(60, date(2026, 11, 21))
    ended = datetime(2026, 11, 22, tzinfo=UTC)
    assert forecast_month(days, ended + timedelta(hours=48)).state == OK
    late = forecast_month(days, ended + timedelta(hours=48, seconds=1))
    assert late.state == STALE
    assert late.p50 is not None
    assert any("2026-11-21" in n for n in late.notes)
    behind = forecast_month(days, NOW, behind=["acme-console is complete only through …"])
    assert behind.state == STALE
    # Too little history wins over staleness: there is no number to call stale.
    assert forecast_month(days[-2:], ended + timedelta(days=5)).state == INSUFFICIENT_HISTORY


def test_each_remaining_day_is_forecast_and_the_band_spreads_over_them() -> None:
    # A noiseless weekly rhythm, complete through the 18th: the 19th to the 30th, day by day.
    f = forecast_month(series(60, date(2026, 11, 18)), NOW)
    nov = [date(2026, 11, 19) + timedelta(days=i) for i in range(12)]
    assert [d for d, _ in f.daily] == nov == f.remaining_dates()
    for d, v in f.daily:
        assert close(v, Decimal(100 if d.weekday() < 5 else 10)), d
    # With noise the band is wide; spread over the days, it adds up to the month's band.
    f = forecast_month(series(60, TODAY - timedelta(days=1), noise=0.3), NOW)
    assert f.p10 is not None
    assert f.p90 is not None
    assert f.p50 is not None
    days = f.days()
    assert [d.day for d in days] == [date(2026, 11, 22) + timedelta(days=i) for i in range(9)]
    assert close(sum(d.p50 for d in days), f.p50 - f.actual)
    assert close(sum(d.p10 or 0 for d in days), f.p10 - f.actual)
    assert close(sum(d.p90 or 0 for d in days), f.p90 - f.actual)
    for d in days:
        assert d.p10 is not None
        assert d.p90 is not None
        assert d.p10 < d.p50 < d.p90
    # No forecast, no days.
    short = forecast_month(series(2, TODAY - timedelta(days=1)), NOW)
    assert (short.daily, short.days()) == ((), [])
    assert len(short.remaining_dates()) == 9


# -- reconciliation -----------------------------------------------------------------------------


def _child(actual: str, remaining: str, p50: str | None) -> MonthForecast:
    value = None if p50 is None else Decimal(p50)
    band = (None, None) if value is None else (value - 5, value + 5)
    state = INSUFFICIENT_HISTORY if p50 is None else OK
    return MonthForecast(
        date(2026, 11, 1), date(2026, 11, 21), 40, None if p50 is None else SEASONAL, state,
        Decimal(actual), 9, Decimal(remaining), band[0], value, band[1], 20,
    )  # fmt: skip


def test_children_add_up_to_the_parent_to_the_cent() -> None:
    rng = random.Random(3)
    for _ in range(200):
        n = rng.randint(1, 12)
        kids = {}
        for i in range(n):
            actual = Decimal(rng.randint(0, 10**9)).scaleb(-7)
            rem = Decimal(rng.randint(0, 10**9)).scaleb(-7)
            own = None if rng.random() < 0.2 else str(actual + rem)
            kids[f"v{i}"] = _child(str(actual), str(rem), own)
        total_actual = sum(k.actual for k in kids.values())
        parent_p50 = total_actual + Decimal(rng.randint(0, 10**10)).scaleb(-8)
        parent = _child(str(total_actual), "0", str(parent_p50))
        fitted = reconcile(parent, kids)
        p50s = [f.p50 for f in fitted.values()]
        assert all(p is not None and p == p.quantize(Decimal("0.01")) for p in p50s)
        assert sum(p for p in p50s if p is not None) == parent_p50.quantize(Decimal("0.01"))
        for key, f in fitted.items():
            assert f.reconciled
            assert f.p50 is not None
            assert f.p50 >= kids[key].actual - Decimal("0.01")
            if f.p10 is not None and f.p90 is not None:
                assert f.p10 <= f.p50 <= f.p90


def test_reconciliation_shares_by_the_childrens_own_forecasts() -> None:
    kids = {
        "a": _child("10", "30", "40"),
        "b": _child("10", "10", "20"),
        "c": _child("0", "0", "0"),
    }
    fitted = reconcile(_child("20", "0", "80"), kids)  # 60 to share, 3:1
    assert {k: f.p50 for k, f in fitted.items()} == {
        "a": Decimal("55.00"),
        "b": Decimal("25.00"),
        "c": Decimal("0.00"),
    }
    # A parent without a forecast leaves the children as they are.
    assert reconcile(_child("20", "2", None), kids) == kids


def test_a_reconciled_childs_days_add_up_to_its_share() -> None:
    rest = [date(2026, 11, 22) + timedelta(days=i) for i in range(9)]  # Sunday 22nd to the 30th
    shape = tuple((d, Decimal("4.5") if d.weekday() < 5 else Decimal(1)) for d in rest)
    assert sum(v for _, v in shape) == 30
    kids = {
        "a": replace(_child("10", "30", "40"), daily=shape),
        "b": _child("10", "10", None),  # too little history: its run rate weighs
    }
    fitted = reconcile(_child("20", "0", "80"), kids)  # 60 to share, 3:1
    a, b = fitted["a"], fitted["b"]
    assert (a.p50, b.p50) == (Decimal("55.00"), Decimal("25.00"))
    # Its own rhythm, scaled by 45/30; the band keeps its place around each day.
    assert a.daily == tuple((d, v * Decimal("1.5")) for d, v in shape)
    for d, (_, v) in zip(a.days(), a.daily, strict=True):
        assert d.p10 is not None
        assert d.p90 is not None
        assert close(d.p10, v * 25 / 30)
        assert close(d.p90, v * 35 / 30)
    # With no forecast of its own, its share evenly, and no band.
    assert b.daily == tuple((d, Decimal(15) / 9) for d in rest)
    assert all(d.p10 is None and d.p90 is None for d in b.days())
    # Nothing to share: every remaining day is 0.
    nothing = reconcile(_child("20", "0", "20"), kids)
    assert {v for f in nothing.values() for _, v in f.daily} == {Decimal(0)}


# -- through the CLI, the API and serve ----------------------------------------------------------


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env={**ENV, **(env or {})})


def forecast_json(home: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    r = cli(home, "forecast", *args, "--json", env=env)
    assert r.exit_code == 0, r.output
    found: dict[str, Any] = json.loads(r.output)
    return found


def report_total(home: Path, *args: str) -> Decimal:
    r = cli(home, "report", *args, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    return sum((Decimal(row["cost"]) for row in rows), Decimal(0))


def test_the_organization_forecast_on_a_synced_warehouse(synced: Settings) -> None:
    found = forecast_json(synced.home)
    f = found["forecast"]
    assert found["month"] == "2026-11"
    assert found["complete_through"] == "2026-11-21"  # today (the 22nd) is partial
    assert f["scope"] == "organization"
    assert f["method"] == SEASONAL
    assert f["state"] == LOW_CONFIDENCE  # 40 days: too few backtest origins for 9 days ahead
    assert f["remaining_days"] == 9
    mtd = report_total(synced.home, "--since", "2026-11-01", "--until", "2026-11-22")
    assert Decimal(f["month_to_date"]) == mtd
    assert Decimal(f["p10"]) <= Decimal(f["p50"]) <= Decimal(f["p90"])
    assert Decimal(f["p50"]) > mtd
    assert found["children"] == []
    table = cli(synced.home, "forecast")
    assert table.exit_code == 0
    assert "Month-end forecast for 2026-11" in table.output
    assert "$" in table.output
    assert "note: band not measured" in table.output


def test_connections_add_up_to_the_organization(synced: Settings) -> None:
    found = forecast_json(synced.home, "--by", "connection")
    kids = found["children"]
    assert {k["key"] for k in kids} == {"acme-console", "acme-enterprise"}
    assert sum(Decimal(k["p50"]) for k in kids) == Decimal(found["forecast"]["p50"])
    assert all(k["reconciled"] and k["scope"] == f"connection:{k['key']}" for k in kids)
    one = forecast_json(synced.home, "--scope", "connection:acme-console")["forecast"]
    console = next(k for k in kids if k["key"] == "acme-console")
    assert one["month_to_date"] == console["month_to_date"]
    assert one["history_days"] == console["history_days"]


def test_a_workspace_named_by_its_name(synced: Settings) -> None:
    found = forecast_json(synced.home, "--scope", "workspace:Production")
    assert found["scope"].startswith("workspace:")
    assert found["scope"] != "workspace:Production"
    mtd = report_total(
        synced.home, "--filter", found["scope"], "--since", "2026-11-01", "--until", "2026-11-22"
    )
    assert Decimal(found["forecast"]["month_to_date"]) == mtd > 0


def test_a_scope_with_no_spend_yet_has_no_number(synced: Settings) -> None:
    found = forecast_json(synced.home, "--scope", "model:claude-none-1")
    f = found["forecast"]
    assert (f["state"], f["method"], f["history_days"]) == (INSUFFICIENT_HISTORY, None, 0)
    assert (f["p10"], f["p50"], f["p90"]) == (None, None, None)
    assert f["month_to_date"] == "0.00"
    assert f["complete_through"] == "2026-11-21"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "team"], "Scope 'team' is not 'organization' or 'dimension:value'"),
        (["--scope", "product:Claude Code"], "A scope cannot be by 'product'"),
        (["--scope", "connection:nope"], "No connection is labelled 'nope'"),
        (["--by", "cost_type"], "A breakdown cannot be by 'cost_type'"),
        (["--scope", "team:payments"], "A scope cannot be by 'team'"),  # nothing allocated
    ],
)
def test_a_bad_scope_is_one_clear_line(synced: Settings, args: list[str], message: str) -> None:
    r = cli(synced.home, "forecast", *args)
    assert r.exit_code == 2  # bad input, as `report` answers it
    assert r.stderr.startswith(f"error: {message}")
    assert "Traceback" not in r.output


def test_stale_by_the_clock(synced: Settings) -> None:
    later = {"SPENDSCOPE_NOW": (NOW + timedelta(days=3)).isoformat()}
    f = forecast_json(synced.home, env=later)["forecast"]
    assert f["state"] == STALE
    assert f["complete_through"] == "2026-11-21"
    assert any("complete only through 2026-11-21" in n for n in f["notes"])


def test_provisional_days_are_not_complete(synced: Settings, tmp_path: Path) -> None:
    from spendscope.warehouse.connection import Warehouse

    settings = copy_home(synced, tmp_path / "home")
    wh = Warehouse(settings)
    try:
        wh.execute(
            "UPDATE spendscope.mart_spend SET is_provisional = TRUE WHERE day >= ?",
            date(2026, 11, 19),
        )
    finally:
        wh.close()
    found = forecast_json(settings.home)
    assert found["complete_through"] == "2026-11-18"
    f = found["forecast"]
    assert f["remaining_days"] == 12
    mtd = report_total(settings.home, "--since", "2026-11-01", "--until", "2026-11-19")
    assert Decimal(f["month_to_date"]) == mtd


def test_the_api_gives_each_remaining_day_to_month_end(synced: Settings) -> None:
    from spendscope.web.app import create_app

    cent = Decimal("0.01")
    with TestClient(create_app(synced, now=lambda: NOW), base_url="http://127.0.0.1") as c:
        found = c.get("/api/v1/forecast", params={"by": "connection"}).json()
        nothing = c.get("/api/v1/forecast", params={"scope": "model:claude-none-1"}).json()
        overview = c.get("/api/v1/overview").json()
    for f in [found["forecast"], *found["children"]]:
        days = f["days"]
        # Today (partial) through the 30th: the remaining days, none of them complete.
        assert [d["day"] for d in days] == [f"2026-11-{n}" for n in range(22, 31)]
        assert len(days) == f["remaining_days"]
        mtd = Decimal(f["month_to_date"])
        for p in ("p10", "p50", "p90"):
            # Each day to the cent; together the month's figure less the month to date.
            assert all(Decimal(d[p]) == Decimal(d[p]).quantize(cent) for d in days)
            gap = sum(Decimal(d[p]) for d in days) - (Decimal(f[p]) - mtd)
            assert abs(gap) <= cent * len(days), (f["key"], p, gap)
        assert all(Decimal(d["p10"]) <= Decimal(d["p50"]) <= Decimal(d["p90"]) for d in days)
        assert any(Decimal(d["p10"]) < Decimal(d["p90"]) for d in days)
    assert nothing["forecast"]["days"] == []
    # One forecast in the product: the overview has none of its own.
    assert "forecast" not in overview


def test_the_api_answers_what_the_cli_prints(synced: Settings) -> None:
    from spendscope.web.app import create_app

    local = forecast_json(synced.home, "--by", "connection")
    with TestClient(create_app(synced, now=lambda: NOW), base_url="http://127.0.0.1") as c:
        r = c.get("/api/v1/forecast", params={"by": "connection"})
        assert r.status_code == 200
        assert r.json() == local
        bad = c.get("/api/v1/forecast", params={"scope": "model"})
        assert bad.status_code == 400
        assert bad.json()["error"]["message"].startswith("Scope 'model' is not")


RULES = """
[dimensions.team]

[[dimensions.team.rules]]
id = "key-name"
when = { api_key_name = { regex = "^team-([a-z]+)-" } }
value = "{1}"
"""


@pytest.fixture(scope="module")
def teams(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the synced home with a `team` dimension from the keys' names."""
    from spendscope.allocation.store import install_rules
    from spendscope.refresh import initialize, refresh_allocation
    from spendscope.warehouse.connection import Warehouse

    settings = copy_home(synced, tmp_path_factory.mktemp("teams"))
    wh = Warehouse(settings)
    try:
        initialize(wh)
        start = date(2026, 10, 1)
        install_rules(
            wh, RULES, source="rules.toml", effective=start, today=TODAY, backfill_from=start
        )
        refresh_allocation(wh)
    finally:
        wh.close()
    return settings


def test_teams_add_up_to_the_organization(teams: Settings) -> None:
    found = forecast_json(teams.home, "--by", "team")
    kids = found["children"]
    assert "Unallocated" in {k["key"] for k in kids}
    assert len(kids) >= 3
    assert sum(Decimal(k["p50"]) for k in kids) == Decimal(found["forecast"]["p50"])
    assert sum(Decimal(k["month_to_date"]) for k in kids) == Decimal(
        found["forecast"]["month_to_date"]
    )
    team = next(k for k in kids if k["key"] != "Unallocated")
    alone = forecast_json(teams.home, "--scope", f"team:{team['key']}")["forecast"]
    assert alone["month_to_date"] == team["month_to_date"]
    csv_out = cli(teams.home, "forecast", "--by", "team", "--csv")
    assert csv_out.exit_code == 0
    assert csv_out.output.splitlines()[0].startswith("scope,state,method")
    assert len(csv_out.output.splitlines()) == len(kids) + 2


@pytest.fixture
def serving(synced: Settings, tmp_path: Path) -> Iterator[Path]:
    """`spendscope serve --no-sync` over a copy of the synced home (its clock at NOW)."""
    home = copy_home(synced, tmp_path / "home").home
    with Serve(home):
        yield home


def test_through_a_running_serve(synced: Settings, serving: Path) -> None:
    local = forecast_json(synced.home, "--by", "connection")
    assert (serving / "serve.json").exists()
    assert forecast_json(serving, "--by", "connection") == local
    r = cli(serving, "forecast", "--scope", "nope:x")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: A scope cannot be by 'nope'")


@pytest.mark.parametrize("by", ["workspace", "model", "api_key"])
def test_a_breakdown_of_a_warehouse_with_no_spend_yet_says_so(tmp_path: Path, by: str) -> None:
    """Set up, nothing synced: its marts' key types have no value yet (DuckDB cannot sort an
    ENUM with no value), and `--by` answers like the total, with no child."""
    from conftest import make_settings
    from spendscope.refresh import initialize
    from spendscope.warehouse.connection import Warehouse

    wh = Warehouse(make_settings(tmp_path))
    try:
        initialize(wh)
    finally:
        wh.close()
    found = forecast_json(tmp_path, "--by", by)
    assert found["forecast"]["state"] == "insufficient_history"
    assert found["children"] == []
    r = cli(tmp_path, "report", "--by", by, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == []
