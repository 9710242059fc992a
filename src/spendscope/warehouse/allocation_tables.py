"""The allocation tables: its configuration (mappings, rule versions, the log of changes), the
RBAC membership history it reads, and its result (`allocation_rows`, one row per spend row,
dimension and value, read through the `allocation` view; `mart_allocation`, its daily sums).

The configuration belongs to the warehouse, not to a connection: deleting a connection leaves it
alone. See `docs/allocation.md`.
"""

from __future__ import annotations

import pyarrow as pa

from .tables import CONNECTION, ROW_KEY, TS, Column, Table, _i, _s

DAY = pa.date32()
NANO_DOC = "in integer units of 1e-11 USD (exact; divide by 10^11 for dollars)"

ALLOCATION_MAPPINGS = Table(
    name="allocation_mappings",
    doc="Effective-dated mappings of a subject (API key, service account, user, RBAC group, "
    "workspace, connection) to a value of an allocation dimension. Imports close the interval "
    "of a subject's earlier mapping where a new one starts; days before keep their value.",
    kind="allocation",
    columns=(
        ROW_KEY,
        _s("subject_type", "api_key, service_account, user, rbac_group, workspace or connection."),
        _s("subject", "The id or name (users: id or e-mail) as imported."),
        _s("subject_key", "The subject as compared: case and edge spaces ignored."),
        _s("dimension", "The allocation dimension (team, cost_center, …)."),
        _s("value", "The dimension's value for the subject."),
        Column("valid_from", DAY, False, "First day the mapping applies (UTC)."),
        Column("valid_to", DAY, True, "Day it stops applying (exclusive); null: open."),
        _i("import_id", "The import that wrote it (see `allocation_log`)."),
        _s("source", "Where it came from: file and line, or SCIM group."),
        Column("imported_at", TS, False, "When it was imported."),
    ),
    key=("subject_type", "subject_key", "dimension", "valid_from"),
)
ALLOCATION_RULE_VERSIONS = Table(
    name="allocation_rule_versions",
    doc="Every version of the allocation rules, as installed (TOML). A version applies from "
    "its effective day until the next version's.",
    kind="allocation",
    columns=(
        ROW_KEY,
        _i("version", "1, 2, … in the order installed.", nullable=False),
        Column("effective_from", DAY, False, "First day the version applies (UTC)."),
        _s("rules_toml", "The rules document."),
        _s("source", "The file it was installed from."),
        Column("installed_at", TS, False, "When it was installed."),
    ),
    key=("version",),
)
ALLOCATION_LOG = Table(
    name="allocation_log",
    doc="Every change to the allocation configuration: imports, rule versions, re-allocations "
    "of closed months (`--backfill-from`).",
    kind="allocation",
    columns=(
        ROW_KEY,
        _i("change_id", "1, 2, … (an import's id is its change id).", nullable=False),
        Column("occurred_at", TS, False, "When it was made."),
        _s("action", "import, scim_import, rules or reallocate."),
        _s("detail", "What changed, in words (file, rows, version)."),
        Column("affects_from", DAY, True, "The first day whose allocation it can change."),
        Column(
            "backfill_from",
            DAY,
            True,
            "Set when it re-allocates closed months: the first day re-allocated.",
        ),
    ),
    key=("change_id",),
)
RBAC_MEMBERSHIP = Table(
    name="rbac_membership",
    doc="RBAC group membership over time, built from the `rbac_group_members` snapshot at "
    "every sync: the API keeps no removal history, so a membership starts on the day the API "
    "says it was created and ends (exclusive) the day after the first snapshot that no longer "
    "lists it.",
    kind="allocation",
    columns=(
        ROW_KEY,
        CONNECTION,
        _s("rbac_group_id"),
        _s("user_id"),
        _s("email"),
        Column("valid_from", DAY, False, "First day of the membership (UTC)."),
        Column("valid_to", DAY, True, "Day it ended (exclusive); null: still a member."),
        Column("last_seen_at", TS, False, "The last snapshot that listed it."),
    ),
    key=("rbac_group_id", "user_id", "valid_from"),
)
ALLOCATION_ROWS = Table(
    name="allocation_rows",
    doc="The allocation of every billed spend row (the rows of `spend`): for each dimension, "
    "one row per value the spend goes to — one, or several for a split, whose amounts add up "
    "to the spend row exactly. Recomputed for the days a sync or a configuration change "
    "touched. Read it through the `allocation` view.",
    kind="allocation",
    columns=(
        ROW_KEY,
        CONNECTION,
        _s("spend_row_key", "The `row_key` of the `spend` row."),
        _s("connection_kind"),
        Column("day", DAY, False, "The UTC day."),
        _s("dimension"),
        _s("value", "The value the amount is allocated to (the default when nothing matched)."),
        _i("billed_nc", f"Billed cost allocated, {NANO_DOC}."),
        _i("list_nc", f"List cost allocated, {NANO_DOC}."),
        Column("ratio", pa.decimal128(38, 18), True, "This part's share of the spend row."),
        _s("method", "mapping, rule or default."),
        _s("split_method", "even, fixed or proportional when the row is split; else null."),
        _s("rule_id", "The rule that decided (method rule)."),
        _i("rule_version", "The rules version in force on the day."),
        _s("mapping_key", "The `row_key` of the mapping that decided (method mapping)."),
        _s("reason", "Why nothing matched (method default)."),
        _s("organization_id"),
        _s("workspace_id"),
        _s("api_key_id"),
        _s("user_key", "The user's e-mail, else its id."),
        _s("product"),
        _s("model"),
        _s("service_tier"),
        _s("context_window"),
        _s("inference_geo"),
        _s("speed"),
        _s("cost_type"),
        _s("token_type"),
        _s("provider"),
        _s("project"),
        _s("sku"),
        Column("is_provisional", pa.bool_(), True),
    ),
    key=("spend_row_key", "dimension", "value"),
)
MART_ALLOCATION = "mart_allocation"
ALLOCATION_MART = Table(
    name=MART_ALLOCATION,
    doc="`allocation_rows` summed by day, connection, dimension, value and what decided it "
    "(method, reason): a few thousand rows a dimension, which the questions by an allocation "
    "dimension alone (with the connection at most) and the coverage report read instead of "
    "millions. Brought up to date with `allocation_rows`, in the same transaction.",
    kind="allocation",
    columns=(
        Column("day", DAY, False, "The UTC day."),
        Column("connection_label", pa.string(), False, "The connection the spend came from."),
        _s("connection_kind", "console or enterprise."),
        _s("dimension", "The allocation dimension (team, cost_center, …)."),
        _s("value", "The value the amounts are allocated to (the default when nothing matched)."),
        _s("method", "mapping, rule or default."),
        _s("reason", "Why nothing matched (method default); else null."),
        Column(
            "billed_nc",
            pa.decimal128(38, 0),
            True,
            f"Billed cost allocated, summed, {NANO_DOC}.",
        ),
        Column("list_nc", pa.decimal128(38, 0), True, f"List cost allocated, summed, {NANO_DOC}."),
    ),
)
ALLOCATION_STATE = Table(
    name="allocation_state",
    doc="When the allocation was last brought up to date, and the last change it includes.",
    kind="allocation",
    columns=(
        ROW_KEY,
        Column("refreshed_at", TS, False),
        _i("change_id", "The last `allocation_log` change applied."),
        _s("dimensions", "The allocation dimensions configured (JSON list)."),
    ),
)

ALLOCATION_TABLES: tuple[Table, ...] = (
    ALLOCATION_MAPPINGS,
    ALLOCATION_RULE_VERSIONS,
    ALLOCATION_LOG,
    RBAC_MEMBERSHIP,
    ALLOCATION_ROWS,
    ALLOCATION_MART,
    ALLOCATION_STATE,
)
