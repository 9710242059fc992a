"""`spendscope report`: totals of a metric grouped by any dimensions."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import click

from .options import (
    checked_options,
    day_option,
    format_options,
    friendly,
    home_option,
    limit_option,
    load_settings,
)
from .reads import serving

if TYPE_CHECKING:
    from ..output import Kind


def metric_kinds(metric: str) -> dict[str, Kind]:
    """How a table shows the metric's column: money for `usd` metrics, else a count."""
    from ..output import COUNT, MONEY
    from ..reporting.catalog import METRICS

    m = METRICS.get(metric)
    return {} if m is None else {m.name: MONEY if m.unit == "usd" else COUNT}


@click.command()
@click.option(
    "--by",
    default="",
    help="Dimensions to group by, comma-separated "
    "(e.g. workspace,model; day, week or month for time).",
)
@click.option(
    "--metric",
    default="cost",
    show_default=True,
    help="cost, list_cost, tokens, uncached_input_tokens, cache_read_input_tokens, "
    "cache_creation_5m_input_tokens, cache_creation_1h_input_tokens, "
    "output_tokens, web_search_requests or requests.",
)
@click.option("--since", callback=day_option, help="First day (YYYY-MM-DD).")
@click.option("--until", callback=day_option, help="Day to stop before (YYYY-MM-DD, exclusive).")
@click.option("--connection", default=None, help="Only this connection.")
@click.option(
    "--filter",
    "filters",
    multiple=True,
    help="dimension:value (repeatable; values of one dimension are ORed, dimensions ANDed).",
)
@click.option(
    "--limit",
    type=int,
    default=None,
    callback=limit_option,
    help="At most this many rows (1-10000).",
)
@format_options
@home_option
@friendly
@checked_options
def report(
    by: str,
    metric: str,
    since: date | None,
    until: date | None,
    connection: str | None,
    filters: tuple[str, ...],
    limit: int | None,
    fmt: str,
    home: str | None,
) -> None:
    """Totals from the warehouse, grouped by any dimensions (double-booked spend counted once):
    the same queries as the dashboard and the REST API."""
    from ..errors import ConfigError
    from ..output import render
    from ..reporting.catalog import GRANULARITIES, Scope, parse_filters
    from ..reporting.queries import totals
    from ..warehouse.connection import Warehouse

    settings = load_settings(home)
    if not settings.warehouse_path.exists():
        raise ConfigError("The warehouse is empty.", "Run: spendscope sync")
    dims = [d.strip() for d in by.split(",") if d.strip()]
    wanted = [*filters, *([f"connection:{connection}"] if connection else [])]
    with serving(settings) as server:
        if server is not None:
            from .remote import decode_rows

            params: list[tuple[str, Any]] = [("metric", metric), ("by", ",".join(dims))]
            params += [("since", since.isoformat())] if since else []
            params += [("until", until.isoformat())] if until else []
            params += [("filter", f) for f in wanted]
            params += [("limit", limit)] if limit is not None else []
            answer = server.get("/api/v1/report", params)
            cols = list(answer["columns"])
            rows = decode_rows(answer["rows"], [d for d in dims if d in GRANULARITIES])
            click.echo(render(rows, cols, fmt, kinds=metric_kinds(metric)))
            return
    scope = Scope(since or date(2000, 1, 1), until or date(2100, 1, 1), parse_filters(wanted))
    wh = Warehouse(settings)
    try:
        from ..refresh import initialize

        initialize(wh)
        cols, rows = totals(wh, metric, scope, dims, limit)
    finally:
        wh.close()
    click.echo(render(rows, cols, fmt, kinds=metric_kinds(metric)))
