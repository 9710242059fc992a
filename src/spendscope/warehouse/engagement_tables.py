"""Tables of the Enterprise engagement endpoints (users, summaries, skills, ...).

One row per UTC day and entity (a member, a skill, a connector, ...), at the finest grain the API
reports exactly for a day: the per-entity endpoints are read grouped by product and user, so a
sum over any set of rows of a day is the API's own figure for that set. `bucket_start` and
`bucket_end` are the day's UTC bounds.

Each table comes with the path of every flattened column in the API's row (`*_PATHS`, column name
-> keys to follow); a column without an entry has the API field of the same name. Nested blocks
the API omits (a feature not enabled for the organization) give null columns.
"""

from __future__ import annotations

import pyarrow as pa

from .tables import FACT_HEAD, FACT_TAIL, MONEY, TS, Column, Table, _i, _s

Path = tuple[str, ...]


def _req(name: str, doc: str = "") -> Column:
    """An integer the API always sends (never null)."""
    return _i(name, doc, nullable=False)


# -- /analytics/users ---------------------------------------------------------------------------

_TOOLS = ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")
_OFFICE_APPS = ("excel", "outlook", "powerpoint", "word")

USER_PATHS: dict[str, Path] = {
    "user_id": ("user", "id"),
    "user_email": ("user", "email_address"),
    "chat_message_count": ("chat_metrics", "message_count"),
    "chat_thinking_message_count": ("chat_metrics", "thinking_message_count"),
    "chat_shared_conversations_viewed_count": ("chat_metrics", "shared_conversations_viewed_count"),
    "chat_connectors_used_count": ("chat_metrics", "connectors_used_count"),
    "chat_distinct_conversation_count": ("chat_metrics", "distinct_conversation_count"),
    "chat_distinct_artifacts_created_count": ("chat_metrics", "distinct_artifacts_created_count"),
    "chat_distinct_projects_created_count": ("chat_metrics", "distinct_projects_created_count"),
    "chat_distinct_projects_used_count": ("chat_metrics", "distinct_projects_used_count"),
    "chat_distinct_files_uploaded_count": ("chat_metrics", "distinct_files_uploaded_count"),
    "claude_code_commit_count": ("claude_code_metrics", "core_metrics", "commit_count"),
    "claude_code_pull_request_count": ("claude_code_metrics", "core_metrics", "pull_request_count"),
    "claude_code_lines_added": (
        "claude_code_metrics",
        "core_metrics",
        "lines_of_code",
        "added_count",
    ),
    "claude_code_lines_removed": (
        "claude_code_metrics",
        "core_metrics",
        "lines_of_code",
        "removed_count",
    ),
    "claude_code_session_count": ("claude_code_metrics", "core_metrics", "distinct_session_count"),
    **{
        f"claude_code_{tool}_{what}": ("claude_code_metrics", "tool_actions", tool, f"{what}_count")
        for tool in _TOOLS
        for what in ("accepted", "rejected")
    },
    "cowork_message_count": ("cowork_metrics", "message_count"),
    "cowork_action_count": ("cowork_metrics", "action_count"),
    "cowork_dispatch_turn_count": ("cowork_metrics", "dispatch_turn_count"),
    "cowork_session_count": ("cowork_metrics", "distinct_session_count"),
    "design_message_count": ("design_metrics", "message_count"),
    **{
        f"office_{app}_message_count": ("office_metrics", app, "message_count")
        for app in _OFFICE_APPS
    },
    "science_message_count": ("science_metrics", "message_count"),
    "unified_chat_message_count": ("chat_cowork_unified_metrics", "chat", "message_count"),
    "unified_sessions_message_count": ("chat_cowork_unified_metrics", "sessions", "message_count"),
    "claude_tag_active_day_count": ("claude_tag_metrics", "active_day_count"),
    "claude_tag_active_message_count": ("claude_tag_metrics", "active_message_count"),
}

USER_METRICS = (
    _req("web_search_count", "Web searches."),
    _req("chat_message_count", "claude.ai chat messages."),
    _req("chat_thinking_message_count", "Chat messages with extended thinking."),
    _req("chat_shared_conversations_viewed_count", "Shared conversations viewed."),
    _req("chat_connectors_used_count", "MCP connector invocations in chat."),
    _i("chat_distinct_conversation_count", "Distinct chat conversations."),
    _req("chat_distinct_artifacts_created_count", "Artifacts created in chat."),
    _req("chat_distinct_projects_created_count", "Projects created."),
    _i("chat_distinct_projects_used_count", "Projects used."),
    _i("chat_distinct_files_uploaded_count", "Files uploaded."),
    _req("claude_code_commit_count", "Commits made with Claude Code."),
    _req("claude_code_pull_request_count", "Pull requests made with Claude Code."),
    _req("claude_code_lines_added", "Lines added by Claude Code."),
    _req("claude_code_lines_removed", "Lines removed by Claude Code."),
    _i("claude_code_session_count", "Distinct Claude Code sessions."),
    *(
        _req(f"claude_code_{tool}_{what}", f"Claude Code {tool} actions {what}.")
        for tool in _TOOLS
        for what in ("accepted", "rejected")
    ),
    _req("cowork_message_count", "Cowork messages."),
    _req("cowork_action_count", "Completed Cowork tool actions."),
    _req("cowork_dispatch_turn_count", "Cowork background-agent turns."),
    _i("cowork_session_count", "Distinct Cowork sessions."),
    _req("design_message_count", "Claude Design messages."),
    *(
        _req(f"office_{app}_message_count", f"Claude in Office messages in {app.title()}.")
        for app in _OFFICE_APPS
    ),
    _req("science_message_count", "Claude Science messages."),
    _i(
        "unified_chat_message_count",
        "Chat messages in Chat-and-Cowork-unified mode (null where the mode is unavailable).",
    ),
    _i(
        "unified_sessions_message_count",
        "Cowork messages in unified mode (null where the mode is unavailable).",
    ),
    _i(
        "claude_tag_active_day_count",
        "Claude Tag (Slack): 1 if active that day (null where not offered or not measured).",
    ),
    _i("claude_tag_active_message_count", "Claude Tag (Slack) messages."),
)

ENGAGEMENT_USERS = Table(
    name="engagement_users",
    doc="`/v1/organizations/analytics/users`: one row per day and member with activity.",
    columns=(
        *FACT_HEAD,
        _s("user_id", "The member (user_…)."),
        _s("user_email", "The member's e-mail."),
        *USER_METRICS,
        Column(
            "last_activity_date",
            pa.date32(),
            True,
            "Latest active day (null where the organization does not report it).",
        ),
        _s("metrics_json", "The API's whole row as JSON (every block, flattened or not)."),
        *FACT_TAIL,
    ),
    key=("bucket_start", "user_id"),
    metrics=tuple(c.name for c in USER_METRICS),
)

# -- /analytics/summaries -----------------------------------------------------------------------


def _series(prefix: str, nullable: bool, doc: str) -> tuple[Column, ...]:
    return tuple(
        Column(
            f"{prefix}{w}_active_user_count",
            pa.int64(),
            nullable,
            f"{doc} active users, {w} window.",
        )
        for w in ("daily", "weekly", "monthly")
    )


SUMMARY_METRICS = (
    *_series("", False, "Organization"),
    *_series("cowork_", False, "Cowork"),
    _i("assigned_seat_count", "Seats assigned."),
    _i("pending_invite_count", "Pending invites."),
    Column("daily_adoption_rate", pa.float64(), True, "DAU ÷ seats × 100."),
    Column("weekly_adoption_rate", pa.float64(), True, "WAU ÷ seats × 100."),
    Column("monthly_adoption_rate", pa.float64(), True, "MAU ÷ seats × 100."),
    *_series("chat_", True, "claude.ai chat"),
    *_series("claude_code_", True, "Claude Code"),
    *_series("claude_design_", True, "Claude Design"),
    *_series("office_agent_", True, "Claude in Office"),
    *_series("science_", True, "Claude Science"),
    _i("science_entitled_user_count", "Members holding a Science seat."),
    *_series("chat_cowork_unified_", True, "Chat-and-Cowork-unified (monthly = 28 days)"),
    *_series("claude_tag_", True, "Claude Tag distinct Slack users (monthly = 28 days)"),
)

ENGAGEMENT_SUMMARIES = Table(
    name="engagement_summaries",
    doc="`/v1/organizations/analytics/summaries`: one row per day, organization-wide "
    "(per-product and feature fields are null where the API omits them).",
    columns=(*FACT_HEAD, *SUMMARY_METRICS, *FACT_TAIL),
    key=("bucket_start",),
    metrics=tuple(c.name for c in SUMMARY_METRICS),
)

# -- per-entity endpoints, grouped by product and user -----------------------------------------

GROUP_COLUMNS = (
    _s("product", "Product surface (group key)."),
    _s("user_id", "The member (group key)."),
)
_MONEY_COLUMNS = (
    Column(
        "estimated_overage_spend_cents",
        MONEY,
        True,
        "Allocated post-discount, pre-credit overage spend, US cents.",
    ),
    Column(
        "attributed_list_price_cents",
        MONEY,
        True,
        "Undiscounted list-price value of attributed requests, US cents.",
    ),
    _s("currency", "USD (null when both amounts are null)."),
)


_SURFACE_DOCS = {
    "chat_conversation_count": "claude.ai chat conversations",
    "claude_code_session_count": "Claude Code sessions",
    "cowork_session_count": "Cowork sessions",
    **{f"office_{app}_session_count": f"Claude in {app.title()} sessions" for app in _OFFICE_APPS},
    "unified_chat_conversation_count": "unified-mode chat conversations",
    "unified_sessions_session_count": "unified-mode Cowork sessions",
}


def _surfaces(what: str, field: str) -> tuple[dict[str, Path], tuple[Column, ...]]:
    """Per-surface distinct counts of conversations / sessions using the entity."""
    paths: dict[str, Path] = {
        "chat_conversation_count": ("chat_metrics", f"distinct_conversation_{field}"),
        "claude_code_session_count": ("claude_code_metrics", f"distinct_session_{field}"),
        "cowork_session_count": ("cowork_metrics", f"distinct_session_{field}"),
        **{
            f"office_{app}_session_count": ("office_metrics", app, f"distinct_session_{field}")
            for app in _OFFICE_APPS
        },
        "unified_chat_conversation_count": (
            "chat_cowork_unified_metrics",
            "chat",
            f"distinct_conversation_{field}",
        ),
        "unified_sessions_session_count": (
            "chat_cowork_unified_metrics",
            "sessions",
            f"distinct_session_{field}",
        ),
    }
    cols = tuple(_i(name, f"Distinct {_SURFACE_DOCS[name]} using the {what}.") for name in paths)
    return paths, cols


SKILL_PATHS, _SKILL_SURFACES = _surfaces("skill", "skill_used_count")
SKILL_PATHS |= {
    "estimated_overage_spend_cents": ("estimated_overage_spend",),
    "attributed_list_price_cents": ("attributed_list_price",),
}
SKILL_METRICS = (
    _req("distinct_user_count", "Members who activated the skill."),
    _i("invocation_count", "Activations (null when invocation reporting is off)."),
    _i("enable_count", "Accounts enabling the skill (null on product/user cuts, i.e. here)."),
    *_MONEY_COLUMNS,
    *_SKILL_SURFACES,
)
ENGAGEMENT_SKILLS = Table(
    name="engagement_skills",
    doc="`/v1/organizations/analytics/skills` by day, grouped by product and user.",
    columns=(
        *FACT_HEAD,
        _s("skill_name", "Skill name or opaque id (`unknown` bucket included)."),
        *GROUP_COLUMNS,
        _s("skill_display_name"),
        _s("share_status", "organization, private or public."),
        *SKILL_METRICS,
        *FACT_TAIL,
    ),
    key=("bucket_start", "skill_name", "product", "user_id"),
    metrics=tuple(c.name for c in SKILL_METRICS if c.name != "currency"),
)

CONNECTOR_PATHS, _CONNECTOR_SURFACES = _surfaces("connector", "connector_used_count")
CONNECTOR_METRICS = (
    _req("distinct_user_count", "Members who used the connector."),
    *_CONNECTOR_SURFACES,
    _i("managed_auth_distinct_user_count", "Members using an org-managed credential."),
    _i("individual_auth_distinct_user_count", "Members using their own credential."),
    _i("read_call_count", "Read-only calls (null before classification started)."),
    _i("write_call_count", "Calls not read-only."),
    _i("unclassified_call_count", "Calls without a trusted annotation."),
)
ENGAGEMENT_CONNECTORS = Table(
    name="engagement_connectors",
    doc="`/v1/organizations/analytics/connectors` by day, grouped by product and user.",
    columns=(
        *FACT_HEAD,
        _s("connector_name", "Normalized connector name or opaque id."),
        *GROUP_COLUMNS,
        _s("connector_display_name"),
        *CONNECTOR_METRICS,
        *FACT_TAIL,
    ),
    key=("bucket_start", "connector_name", "product", "user_id"),
    metrics=tuple(c.name for c in CONNECTOR_METRICS),
)

PLUGIN_PATHS: dict[str, Path] = {
    "claude_code_session_count": ("claude_code_metrics", "distinct_session_plugin_used_count"),
    "cowork_session_count": ("cowork_metrics", "distinct_session_plugin_used_count"),
    "unified_session_count": ("chat_cowork_unified_metrics", "distinct_session_plugin_used_count"),
}
PLUGIN_METRICS = (
    _req("distinct_user_count", "Members with install or invocation activity."),
    _i("install_count", "Members who installed the plugin."),
    _req("invocation_count", "Invocations."),
    _i("claude_code_session_count", "Claude Code sessions using the plugin."),
    _i("cowork_session_count", "Cowork sessions using the plugin."),
    _i("unified_session_count", "Unified-mode sessions using the plugin."),
)
ENGAGEMENT_PLUGINS = Table(
    name="engagement_plugins",
    doc="`/v1/organizations/analytics/plugins` by day, grouped by product and user.",
    columns=(
        *FACT_HEAD,
        _s("plugin_name", "Plugin name or the `third-party` bucket."),
        _s("plugin_id", "e.g. serena@claude-plugins-official (nullable)."),
        *GROUP_COLUMNS,
        *PLUGIN_METRICS,
        *FACT_TAIL,
    ),
    key=("bucket_start", "plugin_name", "plugin_id", "product", "user_id"),
    metrics=tuple(c.name for c in PLUGIN_METRICS),
)

ARTIFACT_METRICS = (
    _req("artifacts_created_count", "Artifacts created."),
    _req("published_artifacts_created_count", "Of which published."),
    _req("distinct_user_count", "Creators."),
)
ENGAGEMENT_ARTIFACTS = Table(
    name="engagement_artifacts",
    doc="`/v1/organizations/analytics/artifacts` by day, grouped by product and user.",
    columns=(
        *FACT_HEAD,
        _s("artifact_type", "Canonical MIME type or `other`."),
        Column("is_shared", pa.bool_(), True, "Ever shared beyond the creator."),
        *GROUP_COLUMNS,
        *ARTIFACT_METRICS,
        *FACT_TAIL,
    ),
    key=("bucket_start", "artifact_type", "is_shared", "product", "user_id"),
    metrics=tuple(c.name for c in ARTIFACT_METRICS),
)

PROJECT_PATHS: dict[str, Path] = {
    "project_created_at": ("created_at",),
    "created_by_id": ("created_by", "id"),
    "created_by_email": ("created_by", "email_address"),
}
PROJECT_METRICS = (
    _req("distinct_user_count", "Members active in the project."),
    _i("distinct_conversation_count", "Conversations in the project."),
    _req("message_count", "Messages in the project."),
)
ENGAGEMENT_PROJECTS = Table(
    name="engagement_projects",
    doc="`/v1/organizations/analytics/apps/chat/projects` by day, grouped by user.",
    columns=(
        *FACT_HEAD,
        _s("project_id", "claude_proj_…"),
        _s("user_id", "The member (group key)."),
        _s("project_name"),
        Column("project_created_at", TS, True, "Creation time (null if unknown)."),
        _s("created_by_id", "Creator (null if deleted)."),
        _s("created_by_email"),
        *PROJECT_METRICS,
        *FACT_TAIL,
    ),
    key=("bucket_start", "project_id", "user_id"),
    metrics=tuple(c.name for c in PROJECT_METRICS),
)

ENGAGEMENT_TABLES: tuple[Table, ...] = (
    ENGAGEMENT_USERS,
    ENGAGEMENT_SUMMARIES,
    ENGAGEMENT_SKILLS,
    ENGAGEMENT_CONNECTORS,
    ENGAGEMENT_PLUGINS,
    ENGAGEMENT_ARTIFACTS,
    ENGAGEMENT_PROJECTS,
)
