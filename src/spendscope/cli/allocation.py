"""`spendscope allocation …`: mappings, rules, coverage and explanations of cost allocation.

Every change (an import, a rules version, a re-allocation) is applied whole or not at all, and
the allocation is brought up to date before the command ends. While `spendscope serve` runs, the
commands go through its API.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .options import day_option, format_options, friendly, home_option, load_settings, now
from .reads import serving

if TYPE_CHECKING:
    from ..config import Settings


@click.group()
def allocation() -> None:
    """Allocate spend to teams, cost centres or projects: mappings, rules, coverage, explain."""


def _read_text(path: str) -> str:
    from ..errors import InvalidInput

    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text.") from None
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be read: {exc.strerror or exc}.") from None


def _local(settings: Settings, change: Any) -> Any:
    """Run `change(warehouse)` on the local warehouse, then bring the allocation up to date."""
    from ..refresh import initialize, refresh_allocation
    from ..warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        initialize(wh)
        result = change(wh)
        refresh_allocation(wh)
        return result
    finally:
        wh.close()


@allocation.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "kind",
    type=click.Choice(["csv", "scim"]),
    default="csv",
    show_default=True,
    help="csv: subject_type,subject,dimension,value,valid_from,valid_to; scim: a SCIM 2.0 "
    "Groups export (members matched to users by e-mail).",
)
@click.option("--dimension", default=None, help="SCIM: the dimension the group names go to.")
@click.option(
    "--valid-from",
    callback=day_option,
    help="SCIM: the first day the memberships apply (default: today).",
)
@click.option(
    "--priority",
    default="",
    help="SCIM: group names, comma-separated: a member of several takes the first listed.",
)
@click.option(
    "--backfill-from",
    callback=day_option,
    help="Allow changes to closed months from this day (an explicit, logged re-allocation).",
)
@home_option
@friendly
def allocation_import(
    file: str,
    kind: str,
    dimension: str | None,
    valid_from: date | None,
    priority: str,
    backfill_from: date | None,
    home: str | None,
) -> None:
    """Import mappings from a CSV file (or a SCIM Groups export): every row checked, and none
    applied if one is bad."""
    from ..allocation.model import parse_import, scim_dimension
    from ..allocation.store import import_mappings

    if kind == "scim":
        scim_dimension(dimension)  # the same refusal whether or not `serve` runs
    settings = load_settings(home)
    text = _read_text(file)
    today = now().date()
    name = Path(file).name
    groups = [p.strip() for p in priority.split(",") if p.strip()]
    with serving(settings) as server:
        if server is not None:
            body = {
                "format": kind,
                "name": name,
                "text": text,
                "dimension": dimension,
                "valid_from": valid_from.isoformat() if valid_from else None,
                "priority": groups,
                "backfill_from": backfill_from.isoformat() if backfill_from else None,
            }
            click.echo(server.post("/api/v1/allocation/mappings", body)["message"])
            return
    parsed = parse_import(
        kind, text, name, dimension=dimension, valid_from=valid_from or today, priority=groups
    )
    result = _local(
        settings,
        lambda wh: import_mappings(
            wh,
            parsed.mappings,
            source=name,
            today=today,
            backfill_from=backfill_from,
            replace_source=parsed.replace_source,
        ),
    )
    click.echo(result.message(name, parsed.skipped))


@allocation.group("rules")
def rules() -> None:
    """Install and show versions of the allocation rules (TOML)."""


@rules.command("set")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--effective",
    callback=day_option,
    help="First day the version applies (default: today, UTC).",
)
@click.option(
    "--backfill-from",
    callback=day_option,
    help="Allow an effective day in a closed month (an explicit, logged re-allocation).",
)
@home_option
@friendly
def rules_set(
    file: str, effective: date | None, backfill_from: date | None, home: str | None
) -> None:
    """Install a new rules version: checked in full first, then applied from --effective."""
    from ..allocation.store import install_rules

    settings = load_settings(home)
    text = _read_text(file)
    today = now().date()
    name = Path(file).name
    when = effective or today
    with serving(settings) as server:
        if server is not None:
            body = {
                "name": name,
                "toml": text,
                "effective": when.isoformat(),
                "backfill_from": backfill_from.isoformat() if backfill_from else None,
            }
            click.echo(server.post("/api/v1/allocation/rules", body)["message"])
            return
    version = _local(
        settings,
        lambda wh: install_rules(
            wh, text, source=name, effective=when, today=today, backfill_from=backfill_from
        ),
    )
    dims = ", ".join(sorted(version.rules.dimensions))
    click.echo(f"installed rules version {version.version} ({dims}), effective {when}")


@rules.command("show")
@click.option("--as-of", callback=day_option, help="The version in force on this day.")
@click.option("--json", "as_json", is_flag=True, help="Output JSON.")
@home_option
@friendly
def rules_show(as_of: date | None, as_json: bool, home: str | None) -> None:
    """Print the rules version in force (today, or --as-of a day)."""
    import json

    from ..errors import NotFoundLocally

    day = as_of or now().date()
    found = _read(home, "/api/v1/allocation/rules", {"as_of": day.isoformat()}, "rules", day)
    current = found.get("in_force") if isinstance(found, dict) else None
    if current is None:
        raise NotFoundLocally(
            f"No rules version is in force on {day}.",
            "Install one: spendscope allocation rules set FILE.toml",
        )
    if as_json:
        # A time as the CLI's JSON writes times (`+00:00`), also when it comes through `serve`,
        # whose API writes UTC as `Z`.
        installed = datetime.fromisoformat(str(current["installed_at"])).astimezone(UTC)
        click.echo(json.dumps({**current, "installed_at": installed.isoformat()}, indent=2))
        return
    until = current["effective_until"] or "open"
    click.echo(
        f"# version {current['version']}, effective {current['effective_from']} … {until} "
        f"(from {current['source']})"
    )
    click.echo(current["rules_toml"].rstrip("\n"))


def _read(home: str | None, path: str, params: dict[str, Any], what: str, *args: Any) -> Any:
    """A read of the allocation: through a running serve, else local."""
    from ..allocation import readers
    from ..refresh import initialize
    from ..warehouse.connection import Warehouse

    settings = load_settings(home)
    with serving(settings) as server:
        if server is not None:
            return server.get(path, params)
    if not settings.warehouse_path.exists():
        from ..errors import ConfigError

        raise ConfigError("The warehouse is empty.", "Run: spendscope sync")
    wh = Warehouse(settings)
    try:
        initialize(wh)
        if what == "rules":
            return {"in_force": readers.rules_in_force(wh, args[0])}
        if what == "coverage":
            return {"months": readers.coverage(wh, *args)}
        if what == "explain":
            return {"rows": readers.explain(wh, *args)}
        return {"mappings": readers.mappings_in_force(wh, *args)}
    finally:
        wh.close()


@allocation.command("coverage")
@click.option("--since", callback=day_option, help="First day (YYYY-MM-DD).")
@click.option("--until", callback=day_option, help="Day to stop before (exclusive).")
@click.option("--dimension", default=None, help="Only this allocation dimension.")
@format_options
@home_option
@friendly
def allocation_coverage(
    since: date | None, until: date | None, dimension: str | None, fmt: str, home: str | None
) -> None:
    """Allocated and unallocated cost per month and dimension, unallocated cost by reason."""
    import json

    from ..allocation.readers import coverage_rows
    from ..output import MONEY, render
    from ..validation import check_range

    check_range(since, until)
    start, end = since or date(2000, 1, 1), until or date(2100, 1, 1)
    params = {"since": start.isoformat(), "until": end.isoformat(), "dimension": dimension}
    found = _read(home, "/api/v1/allocation/coverage", params, "coverage", start, end, dimension)
    if fmt == "json":
        click.echo(json.dumps(found["months"], indent=2))
        return
    cols = [
        "month",
        "dimension",
        "total",
        "allocated",
        "unallocated",
        "allocated_share",
        "reason",
        "reason_cost",
    ]
    kinds = dict.fromkeys(("total", "allocated", "unallocated", "reason_cost"), MONEY)
    click.echo(render(coverage_rows(found["months"]), cols, fmt, kinds=kinds))


@allocation.command("explain")
@click.argument("subject_type")
@click.argument("subject")
@click.option("--date", "day", callback=day_option, help="The day (default: today).")
@format_options
@home_option
@friendly
def allocation_explain(
    subject_type: str, subject: str, day: date | None, fmt: str, home: str | None
) -> None:
    """For each dimension: the subject's value on a day and what decided it (the mapping, the
    rule and its version, or the split). SUBJECT_TYPE: api_key, service_account, user,
    rbac_group, workspace or connection."""
    from ..output import render

    when = day or now().date()
    params = {"subject_type": subject_type, "subject": subject, "date": when.isoformat()}
    found = _read(
        home, "/api/v1/allocation/explain", params, "explain", subject_type, subject, when
    )
    cols = ["connection", "dimension", "value", "method", "split", "weight", "decided_by"]
    click.echo(render(found["rows"], cols, fmt))


@allocation.command("mappings")
@click.option("--as-of", callback=day_option, help="Only the mappings in force on this day.")
@click.option("--dimension", default=None, help="Only this allocation dimension.")
@format_options
@home_option
@friendly
def allocation_mappings(
    as_of: date | None, dimension: str | None, fmt: str, home: str | None
) -> None:
    """The stored mappings, with their intervals and where they came from."""
    from ..output import render

    params = {"as_of": as_of.isoformat() if as_of else None, "dimension": dimension}
    found = _read(home, "/api/v1/allocation/mappings", params, "mappings", as_of, dimension)
    cols = ["subject_type", "subject", "dimension", "value", "valid_from", "valid_to", "source"]
    click.echo(render(found["mappings"], cols, fmt))


@allocation.command("reallocate")
@click.option(
    "--backfill-from",
    required=True,
    callback=day_option,
    help="Recompute every day from this one with the configuration as it stands (logged).",
)
@home_option
@friendly
def allocation_reallocate(backfill_from: date, home: str | None) -> None:
    """Re-allocate every day from --backfill-from (closed months included), logged."""
    from ..allocation.store import reallocate

    settings = load_settings(home)
    today = now().date()
    with serving(settings) as server:
        if server is not None:
            body = {"backfill_from": backfill_from.isoformat()}
            click.echo(server.post("/api/v1/allocation/reallocate", body)["message"])
            return
    change = _local(settings, lambda wh: reallocate(wh, backfill_from, today))
    click.echo(f"re-allocated every day from {backfill_from} (change {change})")
