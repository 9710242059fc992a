"""The `billed_estimated` basis over real synced warehouses: usage of a day whose cost is not
loaded is priced within 5 % of the simulator's truth; a cost feed behind its usage feed leaves
the estimated basis complete and fresh; Priority Tier usage on legacy Console cost-report days
is priced from the analytics days' history (the 7 days within 10 % of the truth); a model with
no price is left out and counted; allocation scopes have no estimate; billed budgets do not
change."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import NOW, Api, copy_home, sync
from spendscope.allocation.store import install_rules
from spendscope.cli import main
from spendscope.config import Settings
from spendscope.connections import ConnectionStore
from spendscope.refresh import initialize, refresh
from spendscope.warehouse.connection import Warehouse
from spendscope.warehouse.schema import DATASET
from spendscope.watch.budget_model import make_budget
from spendscope.watch.budget_store import save_budgets
from spendscope.watch.budget_view import budgets_answer
from spendscope.watch.estimate import Estimate, estimate, published_price

ENV = {"SPENDSCOPE_SECRET_KEY": "test-master-key", "SPENDSCOPE_NOW": NOW.isoformat()}
LAST = date(2026, 11, 21)  # the last complete day at NOW
FIRST = LAST - timedelta(days=181)  # the history a budget's series reads
CONSOLE_DAY = date(2026, 11, 20)
ENTERPRISE_DAY = date(2026, 11, 19)
COST_TABLES = (
    "analytics_cost_key",
    "analytics_cost_actor",
    "analytics_cost_user",
    "analytics_cost_detail",
)
# How close an unbilled day's estimate is to the cost the simulator billed for its usage
# (measured on each of the last 14 days: Console within 8 %, 13 of them within 4 %; Enterprise
# within 6.5 %, 13 within 3.5 %; the days tested here: 1.7 %, 0.4 %, and 1.8 % for two).
DAY_TOLERANCE = Decimal("0.05")
# Priority Tier on legacy days is priced from other days' mix: measured -2.6 % over the 7 days,
# days one by one within 30 %.
PRIORITY_TOLERANCE = Decimal("0.10")


def drop_cost(wh: Warehouse, label: str, *days: date) -> None:
    existing = wh.existing_tables()
    for table in COST_TABLES:
        if table in existing:
            for d in days:
                wh.execute(
                    f"DELETE FROM {DATASET}.{table} WHERE connection_label = ? "
                    "AND CAST(bucket_start AS DATE) = ?",
                    label,
                    d,
                )


def truth(api: Api, org_name: str, first: date, last: date) -> dict[str, dict[str, Decimal]]:
    """The simulator's cost of each day, in dollars, by component."""
    org = next(o["id"] for o in api.info()["organizations"] if o["name"] == org_name)
    found = api.truth(org=org, start=first.isoformat(), end=(last + timedelta(1)).isoformat())
    return {
        d["date"]: {k[: -len("_cents")]: Decimal(v) / 100 for k, v in d.items() if "_cents" in k}
        for d in found["organizations"][0]["days"]
    }


def priced_by_usage(day: dict[str, Decimal]) -> Decimal:
    """What usage can price: tokens and web searches (not code execution nor sessions)."""
    return day["token_cost"] + day["web_search_cost"]


def near(got: Decimal, want: Decimal, tolerance: Decimal) -> bool:
    return abs(got - want) <= want * tolerance


def cli(home: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [*args, "--home", str(home)], env=ENV)


def answer(settings: Settings) -> dict[str, dict[str, Any]]:
    wh = Warehouse(settings)
    try:
        return {b["name"]: b for b in budgets_answer(wh, NOW)["budgets"]}
    finally:
        wh.close()


def save(settings: Settings, *budgets: Any) -> None:
    wh = Warehouse(settings)
    try:
        initialize(wh)
        save_budgets(wh, list(budgets), NOW)
    finally:
        wh.close()


def estimated(settings: Settings, filters: dict[str, list[str]], **kw: Any) -> Estimate:
    wh = Warehouse(settings)
    try:
        return estimate(wh, filters, FIRST, LAST, **kw)
    finally:
        wh.close()


# -- a day whose cost is not loaded ---------------------------------------------------------------


@pytest.fixture(scope="module")
def unbilled(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The synced warehouse without the cost of one day of each connection (its usage kept)."""
    settings = copy_home(synced, tmp_path_factory.mktemp("unbilled"))
    wh = Warehouse(settings)
    try:
        drop_cost(wh, "acme-console", CONSOLE_DAY)
        drop_cost(wh, "acme-enterprise", ENTERPRISE_DAY)
        refresh(wh, full=True)
    finally:
        wh.close()
    return settings


def test_a_day_without_cost_is_priced_within_5_percent_of_its_truth(
    unbilled: Settings, api: Api
) -> None:
    for label, org, day in (
        ("acme-console", "Acme Platform", CONSOLE_DAY),
        ("acme-enterprise", "Acme Enterprise", ENTERPRISE_DAY),
    ):
        found = estimated(unbilled, {"connection": [label]})
        assert list(found.days) == [day]  # no other day: every other has its cost
        got = found.days[day]
        assert (got.unbilled_connections, got.priority) == ({label}, 0)
        assert (got.unpriced_tokens, got.unpriced_web_searches) == (0, 0)
        want = priced_by_usage(truth(api, org, day, day)[day.isoformat()])
        assert near(got.amount, want, DAY_TOLERANCE), (label, got.amount, want)
    # A scope narrower than the connection: its own usage only.
    model = estimated(unbilled, {"model": ["claude-opus-5"]})
    whole = estimated(unbilled, {})
    assert 0 < model.days[CONSOLE_DAY].amount < whole.days[CONSOLE_DAY].amount


def test_billed_estimated_adds_the_estimate_and_billed_budgets_stay_as_they_are(
    unbilled: Settings,
) -> None:
    home = copy_home(unbilled, unbilled.home.parent / "budgets-home")
    save(
        home,
        make_budget("con", "connection:acme-console", "4000"),
        make_budget("con-e", "connection:acme-console", "4000", basis="billed_estimated"),
        make_budget("org-e", "organization", "9000", basis="billed_estimated"),
    )
    found = answer(home)
    billed, est, org = found["con"], found["con-e"], found["org-e"]
    forecast = cli(home.home, "forecast", "--scope", "connection:acme-console", "--json")
    assert billed["month_to_date"] == json.loads(forecast.output)["forecast"]["month_to_date"]
    assert billed["estimate"] is None
    assert not any("estimat" in n for n in billed["notes"])
    e = est["estimate"]
    assert Decimal(e["amount"]) > 0
    assert e["unbilled_usage"] == e["amount"]
    assert e["priority_tier"] == "0.00"
    assert e["unbilled_connections"] == ["acme-console"]
    # The month to date is billed + estimated, exactly; so is the history it is forecast from.
    assert Decimal(est["month_to_date"]) == Decimal(billed["month_to_date"]) + Decimal(e["amount"])
    assert Decimal(est["p50"]) > Decimal(billed["p50"])
    assert est["basis_label"] == "billed + estimated"
    assert est["notes"][0].startswith("$")
    assert (
        "of the month to date is estimated: usage of days without cost at acme-console"
        in (est["notes"][0])
    )
    assert org["estimate"]["unbilled_connections"] == ["acme-console", "acme-enterprise"]
    table = cli(home.home, "budgets", "list")
    assert table.exit_code == 0, table.output
    header = table.output.splitlines()[1].split()
    assert header[header.index("month_to_date") + 1] == "estimated"
    csv_text = cli(home.home, "budgets", "list", "--csv").output
    assert f",{est['month_to_date']},{e['amount']}," in csv_text
    # Only billed budgets: the table and the CSV have no estimated column.
    assert cli(home.home, "budgets", "delete", "con-e").exit_code == 0
    assert cli(home.home, "budgets", "delete", "org-e").exit_code == 0
    assert "estimated" not in cli(home.home, "budgets", "list").output
    assert "estimated" not in cli(home.home, "budgets", "list", "--csv").output


def test_the_api_answers_the_estimate(unbilled: Settings) -> None:
    from fastapi.testclient import TestClient

    from spendscope.web.app import create_app

    home = copy_home(unbilled, unbilled.home.parent / "api-home")
    save(home, make_budget("e", "model:claude-opus-5", "100", basis="billed_estimated"))
    with TestClient(create_app(home, now=lambda: NOW), base_url="http://127.0.0.1") as c:
        got = c.get("/api/v1/budgets")
    assert got.status_code == 200, got.text
    assert got.json()["budgets"] == list(answer(home).values())
    assert Decimal(got.json()["budgets"][0]["estimate"]["amount"]) > 0


# -- a cost feed behind its usage feed ------------------------------------------------------------


def test_a_cost_feed_behind_its_usage_leaves_the_estimated_basis_complete(
    synced: Settings, tmp_path: Path, api: Api
) -> None:
    settings = copy_home(synced, tmp_path / "lagging")
    days = (LAST - timedelta(days=1), LAST)
    wh = Warehouse(settings)
    try:
        drop_cost(wh, "acme-console", *days)
        wh.execute(
            f"UPDATE {DATASET}.sync_state SET complete_through = ? "
            "WHERE connection_label = 'acme-console' AND feed IN ('cost', 'cost_detail')",
            days[0] - timedelta(days=1),
        )
        refresh(wh, full=True)
    finally:
        wh.close()
    save(
        settings,
        make_budget("con", "connection:acme-console", "4000"),
        make_budget("con-e", "connection:acme-console", "4000", basis="billed_estimated"),
    )
    found = answer(settings)
    billed, est = found["con"], found["con-e"]
    assert billed["complete_through"] == "2026-11-19"
    assert billed["forecast_state"] == "stale"
    assert est["complete_through"] == "2026-11-21"
    assert est["forecast_state"] != "stale"
    amount = Decimal(est["estimate"]["amount"])
    assert Decimal(est["month_to_date"]) == Decimal(billed["month_to_date"]) + amount
    days_truth = truth(api, "Acme Platform", days[0], days[1])
    want = sum((priced_by_usage(days_truth[d.isoformat()]) for d in days), Decimal(0))
    assert near(amount, want, DAY_TOLERANCE), (amount, want)


# -- Priority Tier on legacy Console cost-report days --------------------------------------------


@pytest.fixture(scope="module")
def legacy_days(synced: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The synced warehouse with the Console connection's last week re-synced from the legacy
    reports (its earlier days stay from the analytics API)."""
    settings = copy_home(synced, tmp_path_factory.mktemp("legacy-days"))
    path = settings.home / "connections.json"
    data = json.loads(path.read_text())
    for conn in data["connections"]:
        if conn["label"] == "acme-console":
            conn["api_mode"] = "legacy"
    path.write_text(json.dumps(data))
    reports = sync(
        settings,
        ConnectionStore(settings),
        labels=["acme-console"],
        since=date(2026, 11, 15),
        until=NOW.date() + timedelta(days=1),
    )
    assert not [r.error for r in reports if r.error]
    return settings


def test_priority_tier_on_legacy_days_is_priced_from_the_analytics_days(
    legacy_days: Settings, api: Api
) -> None:
    wh = Warehouse(legacy_days)
    try:
        legacy = wh.read(
            f"""SELECT DISTINCT day FROM {DATASET}.mart_spend
            WHERE canon AND alt AND connection_label = 'acme-console' ORDER BY 1"""
        )
    finally:
        wh.close()
    days = [d for (d,) in legacy if d <= LAST]
    assert days == [date(2026, 11, 15) + timedelta(days=i) for i in range(7)]
    found = estimated(legacy_days, {"connection": ["acme-console"]})
    assert sorted(found.days) == days  # analytics days carry their Priority Tier cost
    assert all(e.priority > 0 and e.unbilled == 0 for e in found.days.values())
    assert all(e.unpriced_tokens == 0 for e in found.days.values())
    by_day = truth(api, "Acme Platform", days[0], days[-1])
    want = sum((by_day[d.isoformat()]["priority_cost"] for d in days), Decimal(0))
    got = sum((e.priority for e in found.days.values()), Decimal(0))
    assert near(got, want, PRIORITY_TOLERANCE), (got, want)
    home = copy_home(legacy_days, legacy_days.home.parent / "legacy-budgets")
    save(home, make_budget("con", "connection:acme-console", "4000", basis="billed_estimated"))
    b = answer(home)["con"]
    assert b["estimate"]["priority_tier"] == b["estimate"]["amount"] == str(got)
    assert "Priority Tier usage the legacy Console cost report leaves out" in b["notes"][0]


# -- what has no price ----------------------------------------------------------------------------


def test_a_model_with_no_price_is_left_out_and_counted(unbilled: Settings, tmp_path: Path) -> None:
    settings = copy_home(unbilled, tmp_path / "new-model")
    wh = Warehouse(settings)
    try:
        for table in ("analytics_usage_key", "analytics_usage_actor"):
            wh.execute(
                f"UPDATE {DATASET}.{table} SET model = 'claude-next-1' WHERE model = "
                "'claude-opus-5' AND connection_label = 'acme-console' "
                "AND CAST(bucket_start AS DATE) = ?",
                CONSOLE_DAY,
            )
        refresh(wh, full=True)
        tokens = "uncached_input_tokens + cache_read_input_tokens + "
        tokens += "cache_creation_5m_input_tokens + cache_creation_1h_input_tokens + output_tokens"
        (renamed,) = wh.read(
            f"SELECT sum({tokens}) FROM {DATASET}.mart_usage WHERE canon AND day = ? "
            "AND model = 'claude-next-1'",
            CONSOLE_DAY,
        )[0]
        covered = wh.read(
            f"""SELECT sum(uncached_input_tokens), sum(output_tokens) FROM {DATASET}.mart_usage
            WHERE canon AND day = ? AND model = 'claude-next-1'
                AND service_tier = 'standard' AND context_window = '0-200k'""",
            CONSOLE_DAY,
        )[0]
    finally:
        wh.close()
    before = estimated(unbilled, {"connection": ["acme-console"]}).days[CONSOLE_DAY]
    day = estimated(settings, {"connection": ["acme-console"]}).days[CONSOLE_DAY]
    assert renamed > 0
    assert (day.unpriced_tokens, day.unpriced_models) == (renamed, {"claude-next-1"})
    assert 0 < day.amount < before.amount
    # A published price prices what it covers (standard tier, base context) and no more.
    prices = {"claude-next-1": {"uncached_input_tokens": Decimal(5), "output_tokens": Decimal(25)}}
    priced = estimated(settings, {"connection": ["acme-console"]}, published=prices)
    got = priced.days[CONSOLE_DAY]
    expected = (covered[0] * Decimal(5) + covered[1] * Decimal(25)) / 1_000_000
    assert abs(got.amount - day.amount - expected) < Decimal("1e-9")
    assert got.unpriced_tokens == renamed - covered[0] - covered[1]
    save(settings, make_budget("b", "connection:acme-console", "10", basis="billed_estimated"))
    notes = answer(settings)["b"]["notes"]
    assert any(
        n.startswith(f"{renamed:,} tokens not billed yet have no price") and "claude-next-1" in n
        for n in notes
    )


def test_published_prices_cover_only_what_they_state() -> None:
    table = {"m": {"output_tokens": Decimal(15)}}
    each = Decimal(15) / 1_000_000
    assert published_price("m", "output_tokens", "standard", "0-200k", "global", "", table, None)
    assert published_price("m", "output_tokens", "", "", "", "", table, None) == each
    assert published_price("m", "output_tokens", "priority", "", "", "", table, None) is None
    assert published_price("m", "output_tokens", "priority", "", "", "", table, Decimal(2)) == (
        2 * each
    )
    for other in (
        ("m", "output_tokens", "batch", "", "", ""),
        ("m", "output_tokens", "", "200k-1M", "", ""),
        ("m", "output_tokens", "", "", "us", ""),
        ("m", "output_tokens", "", "", "", "fast"),
        ("m", "uncached_input_tokens", "", "", "", ""),
        ("other", "output_tokens", "", "", "", ""),
    ):
        assert published_price(*other, table, Decimal(2)) is None


# -- scopes with no estimate ----------------------------------------------------------------------


RULES = """
[dimensions.team]
[[dimensions.team.rules]]
id = "key-name"
when = { api_key_name = { regex = "^team-([a-z]+)-" } }
value = "{1}"
"""


def test_an_allocation_scope_has_no_estimate_and_says_so(
    unbilled: Settings, tmp_path: Path
) -> None:
    settings = copy_home(unbilled, tmp_path / "teams")
    wh = Warehouse(settings)
    try:
        first = date(2026, 10, 1)
        install_rules(
            wh, RULES, source="rules.toml", effective=first, today=NOW.date(), backfill_from=first
        )
        initialize(wh)
    finally:
        wh.close()
    save(
        settings,
        make_budget("t", "team:payments", "1000"),
        make_budget("t-e", "team:payments", "1000", basis="billed_estimated"),
    )
    found = answer(settings)
    assert found["t-e"]["estimate"] is None
    assert found["t-e"]["month_to_date"] == found["t"]["month_to_date"]
    assert found["t-e"]["notes"][0].startswith("a team scope has no estimate")
