"""`docs/schema.md`, generated from the table declarations and the views' column docs."""

from __future__ import annotations

from ..warehouse.schema import ALL_TABLES
from ..warehouse.views import DIMENSIONS

VIEW_DOCS: dict[str, list[tuple[str, str, str]]] = {
    "spend": [
        ("connection_label", "VARCHAR", "The connection (billing account) the row came from."),
        ("connection_kind", "VARCHAR", "console or enterprise."),
        (
            "organization_id",
            "VARCHAR",
            "The organization the spend belongs to (a child organization's id on a parent's rows).",
        ),
        ("charge_period_start", "TIMESTAMPTZ", "Start of the charge period (UTC day)."),
        ("charge_period_end", "TIMESTAMPTZ", "End of the charge period (exclusive)."),
        (
            "workspace_id",
            "VARCHAR",
            "Console workspace (null: default workspace on legacy rows, or not in this grain).",
        ),
        ("api_key_id", "VARCHAR", "Console API key."),
        (
            "user_id",
            "VARCHAR",
            "Enterprise user (user_…); on legacy Console rows, the user account.",
        ),
        ("user_email", "VARCHAR", "Enterprise user's e-mail."),
        (
            "product",
            "VARCHAR",
            "Product surface (chat, claude_code, cowork, …; Console: messages_api, …).",
        ),
        ("model", "VARCHAR", "Model."),
        (
            "service_tier",
            "VARCHAR",
            "standard, batch, priority, priority_on_demand, flex, flex_discount.",
        ),
        ("context_window", "VARCHAR", "0-200k or 200k-1M."),
        ("inference_geo", "VARCHAR", "global, us (null: unset or not in this grain)."),
        ("speed", "VARCHAR", "standard or fast."),
        ("cost_type", "VARCHAR", "tokens, web_search, code_execution, session_usage."),
        (
            "token_type",
            "VARCHAR",
            "For token costs: uncached_input_tokens, output_tokens, "
            "cache_read_input_tokens, cache_creation.ephemeral_5m_input_tokens, "
            "cache_creation.ephemeral_1h_input_tokens.",
        ),
        ("billed_cost", "DECIMAL(38,11)", "Billed cost in USD (post-discount, pre-credit), exact."),
        (
            "list_cost",
            "DECIMAL(38,11)",
            "List-price cost in USD (null where the endpoint has none).",
        ),
        (
            "is_estimate",
            "BOOLEAN",
            "The amount is this key's share of a legacy Console cost-report row, divided by "
            "priced usage (see above); false for every amount the API reports as is.",
        ),
        ("is_provisional", "BOOLEAN", "After the API's data watermark: may still change."),
        ("source", "VARCHAR", "The endpoint the row came from."),
        ("source_table", "VARCHAR", "The raw table the row came from."),
        (
            "service_account_id",
            "VARCHAR",
            "Service account: Enterprise actor rows, and legacy Console rows divided by usage.",
        ),
        (
            "row_key",
            "VARCHAR",
            "The raw row's key (for a divided legacy row, a hash of it and the part's key, "
            "account and service account): unique per row; `allocation` joins on it.",
        ),
        (
            "overlaps_connection",
            "VARCHAR",
            "Another connection reports this same spend "
            "(double-booking); this row is the one counted.",
        ),
        ("provider", "VARCHAR", "Anthropic (Console) or Anthropic (Enterprise)."),
        ("billing_account", "VARCHAR", "The connection label."),
        ("project", "VARCHAR", "Workspace (Console) or user e-mail (Enterprise)."),
        ("service", "VARCHAR", "Product surface."),
        ("sku", "VARCHAR", "Product / model."),
        ("resource", "VARCHAR", "Model."),
        ("workspace_name", "VARCHAR", "Workspace name from the workspaces list."),
        ("api_key_name", "VARCHAR", "API key name from the API keys list."),
    ],
    "usage": [
        ("connection_label", "VARCHAR", "The connection the row came from."),
        ("connection_kind", "VARCHAR", "console or enterprise."),
        ("organization_id", "VARCHAR", "The organization the usage belongs to."),
        ("period_start", "TIMESTAMPTZ", "Start of the period (UTC day)."),
        ("period_end", "TIMESTAMPTZ", "End of the period (exclusive)."),
        *((name, "VARCHAR", "As in `spend`.") for name in DIMENSIONS),
        ("account_id", "VARCHAR", "Console user account (OAuth) that made the requests."),
        ("service_account_id", "VARCHAR", "Service account."),
        (
            "uncached_input_tokens",
            "BIGINT",
            "Input tokens neither read from nor written to the cache.",
        ),
        ("cache_read_input_tokens", "BIGINT", "Input tokens read from the cache."),
        ("cache_creation_5m_input_tokens", "BIGINT", "Input tokens written to the 5-minute cache."),
        ("cache_creation_1h_input_tokens", "BIGINT", "Input tokens written to the 1-hour cache."),
        ("output_tokens", "BIGINT", "Output tokens."),
        ("web_search_requests", "BIGINT", "Web searches."),
        ("requests", "BIGINT", "Requests (null where the endpoint does not report them)."),
        ("is_provisional", "BOOLEAN", "After the API's data watermark."),
        ("source", "VARCHAR", "The endpoint the row came from."),
        ("source_table", "VARCHAR", "The raw table the row came from."),
        ("overlaps_connection", "VARCHAR", "Double-booking marker, as in `spend`."),
    ],
}


VIEW_DOCS["allocation"] = [
    ("row_key", "VARCHAR", "The `spend` row allocated (its `row_key`)."),
    ("connection_label", "VARCHAR", "The connection, as in `spend`."),
    ("connection_kind", "VARCHAR", "console or enterprise."),
    ("day", "DATE", "The UTC day of the spend."),
    ("dimension", "VARCHAR", "The allocation dimension (team, cost_center, …)."),
    ("value", "VARCHAR", "The value this part goes to (the default when nothing matched)."),
    (
        "billed_cost",
        "DECIMAL(31,11)",
        "Billed cost allocated to the value, USD: the parts of a row add up to its billed_cost.",
    ),
    ("list_cost", "DECIMAL(31,11)", "List cost allocated to the value, USD."),
    ("ratio", "DECIMAL(38,18)", "The part's share of the row (1 unless split)."),
    ("method", "VARCHAR", "mapping, rule or default."),
    ("split_method", "VARCHAR", "even, fixed or proportional for a split row; else null."),
    ("rule_id", "VARCHAR", "The rule that decided (method rule)."),
    ("rule_version", "BIGINT", "The rules version in force on the day."),
    ("mapping_key", "VARCHAR", "The mapping that decided (`allocation_mappings.row_key`)."),
    ("reason", "VARCHAR", "Why nothing matched (method default): see docs/allocation.md."),
]


VIEW_DOCS["rbac_group_spend_overlapping"] = [
    ("connection_label", "VARCHAR", "The Enterprise connection."),
    ("day", "DATE", "The UTC day."),
    ("rbac_group_id", "VARCHAR", "The group (null: users in no group that day)."),
    ("rbac_group_name", "VARCHAR", "Its name."),
    (
        "billed_cost",
        "DECIMAL(38,11)",
        "The spend of the group's members that day, USD. OVERLAPPING: a user in several groups "
        "counts fully in each, so rows add up to more than the bill.",
    ),
    ("overlapping", "BOOLEAN", "Always true: a reminder that these rows overlap."),
]


def _without_marker(view: str) -> list[tuple[str, str, str]]:
    """`view`'s columns before its double-booking marker (`overlaps_connection`)."""
    names = [name for name, _, _ in VIEW_DOCS[view]]
    return VIEW_DOCS[view][: names.index("overlaps_connection")]


# The double-booked rows `spend` and `usage` leave out (the other connection's copy counts).
VIEW_DOCS["spend_overlaps"] = _without_marker("spend")
VIEW_DOCS["usage_overlaps"] = _without_marker("usage")


def _type(t: object) -> str:
    text = str(t)
    return {
        "string": "VARCHAR",
        "int64": "BIGINT",
        "bool": "BOOLEAN",
        "date32[day]": "DATE",
        "timestamp[us, tz=UTC]": "TIMESTAMPTZ",
    }.get(text, text.upper())


def schema_markdown() -> str:
    out = [
        "# Warehouse schema",
        "",
        "Generated from the code (`python -m spendscope.docgen`); do not edit by hand.",
        "Everything lives in schema `spendscope` of `$SPENDSCOPE_HOME/warehouse.duckdb`. "
        "Money columns hold the API's exact amounts.",
        "",
        "## Views (the public contract)",
        "",
        "`spend` and `usage` count every amount once: one grain per connection and day, "
        "double-booked spend left out (it is in `spend_overlaps` / `usage_overlaps`).",
        "",
        "On days served by the legacy Console cost report (which has no API key), `spend` "
        "divides each cost row over the usage rows of the same day, workspace, model, tier, "
        "context window, geo and speed, by their tokens of the row's token type (web searches: "
        "by searches, Priority Tier left out) — the keys' *priced usage*. Each part carries the "
        "usage row's `api_key_id`, `user_id` (the user account) and `service_account_id`, and "
        "`is_estimate` true; the parts add up to the cost row exactly (the units of 1e-9 cent "
        "left by rounding down go to the largest part). Cost no usage explains (code execution, "
        "managed-agent sessions) stays as its own row without a key.",
    ]
    for view, cols in VIEW_DOCS.items():
        out += ["", f"### `{view}`", ""]
        if view.endswith("_overlaps"):
            base = view.removesuffix("_overlaps")
            out += [
                f"The double-booked rows `{base}` leaves out (another connection's copy of the "
                f"same amount is counted), with `{base}`'s columns up to `source_table`.",
                "",
            ]
        out += ["| Column | Type | Meaning |", "|---|---|---|"]
        out += [f"| `{n}` | {t} | {d} |" for n, t, d in cols]
    out += [
        "",
        "## Marts (what the dashboard, the REST API and `report` read)",
        "",
        "`mart_spend` and `mart_usage` are tables refreshed after every sync (the days loaded "
        "since the last refresh are replaced) and rebuilt after a connection is deleted; "
        "nothing else writes them. They hold the rows of `spend` / `usage` plus each connection "
        "kind's alternate grain, encoded for speed: text columns are ENUM types made at each "
        "rebuild, money is integer. `mart_state` records the last refresh.",
        "",
        "| Column | Meaning |",
        "|---|---|",
        "| `canon` | The row counts when reading the canonical grain (the rows of `spend` / "
        "`usage`, and legacy reports). |",
        "| `alt` | The row counts when reading the alternate grain (Console's "
        "`analytics_*_actor`, Enterprise's `analytics_*_detail`: the same money by actor, "
        "product, geo and speed; legacy reports too). Sum rows with `canon`, or rows with "
        "`alt` — never all rows. |",
        "| `alt_console`, `alt_enterprise` | The mixed choices: the alternate grain for one "
        "kind and the canonical one for the other. |",
        "| `day` | The UTC day. |",
        "| `connection_label`, `connection_kind`, `organization_id`, `workspace_id`, "
        "`api_key_id`, `product`, `model`, `service_tier`, `context_window`, `inference_geo`, "
        "`speed`, `is_provisional` | As in `spend` / `usage`. |",
        "| `user_key` | The user's e-mail, else its id. |",
        "| `provider`, `project`, `sku` | The FinOps columns, as in `spend` (`project` holds the "
        "workspace id on Console rows). |",
        "| `cost_type`, `token_type`, `billed_nc`, `list_nc` | `mart_spend` only: billed and list "
        "cost in integer units of 1e-11 USD (exact; divide by 10^11 for dollars). |",
        "| `uncached_input_tokens` … `web_search_requests`, `requests` | `mart_usage` only, as "
        "in `usage`. |",
        "",
        "`mart_allocation` sums `allocation_rows` by day, connection, dimension, value, method "
        "and reason; the allocation keeps it up to date with those rows, in the same "
        "transaction. Its columns are under Allocation, below.",
    ]
    out += ["", "## Tables", ""]
    for kind, title in (
        ("fact", "Usage and cost (loaded by day, revisable)"),
        ("snapshot", "Organization lists (snapshots)"),
        ("state", "Bookkeeping"),
        ("allocation", "Allocation (configuration, membership history, results)"),
        ("watch", "Budgets (definitions, amounts by month, threshold states)"),
        ("alerts", "Alerts (instances, deliveries, the delivery log)"),
        ("log", "Logs"),
    ):
        tables = [t for t in ALL_TABLES.values() if t.kind == kind]
        if not tables:
            continue
        out += [f"### {title}", ""]
        for t in tables:
            out += [f"#### `{t.name}`", "", t.doc, ""]
            if t.key:
                out += [
                    f"Natural key: connection_label, {', '.join(t.key)} (digested into `row_key`).",
                    "",
                ]
            out += ["| Column | Type | Null | Meaning |", "|---|---|---|---|"]
            out += [
                f"| `{c.name}` | {_type(c.type)} | {'yes' if c.nullable else 'no'} | {c.doc} |"
                for c in t.columns
            ]
            out.append("")
    return "\n".join(out).rstrip() + "\n"
