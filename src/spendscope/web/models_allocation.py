"""The REST API's allocation answers and request bodies, as pydantic models: coverage, explain,
mappings, rules versions, and what an import, a rules version or a re-allocation reports.

Fields come in the order `spendscope.allocation.readers` gives them, so a CLI command prints
the same thing whether it reads the warehouse or a running server.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from .models import DAY, Money, Out, Share

# -- coverage -----------------------------------------------------------------------------------


class UnallocatedReason(Out):
    reason: str = Field(description="Why the cost went to the default value (a stable code).")
    label: str = Field(description="The reason, for people.")
    cost: Money = Field(description="Billed cost unallocated for this reason.")
    share: Share


class CoverageMonth(Out):
    month: str = Field(description="The month, `YYYY-MM`.")
    dimension: str = Field(description="The allocation dimension.")
    total: Money = Field(description="Billed cost in the month (within the range).")
    allocated: Money = Field(description="The part a mapping or a rule allocated.")
    unallocated: Money = Field(description="The part that went to the default value.")
    allocated_share: Share
    unallocated_by_reason: list[UnallocatedReason] = Field(
        description="The unallocated cost by reason, biggest first."
    )


class CoverageOut(Out):
    months: list[CoverageMonth] = Field(description="Per month and dimension, oldest first.")


# -- explain ------------------------------------------------------------------------------------


class ExplainRow(Out):
    connection: str | None = Field(
        description="The connection that knows the subject (null: no connection lists it)."
    )
    found: bool = Field(description="Whether a connection's lists hold the subject.")
    dimension: str = Field(description="The allocation dimension.")
    value: str = Field(description="The value the subject's spend goes to on that day.")
    method: str = Field(description="What decided it: `mapping`, `rule` or `default`.")
    split: str | None = Field(
        description="`even`, `fixed` or `proportional` when the spend is split, else null."
    )
    weight: int | None = Field(
        description="The part's weight in a split (null: proportional to the value's spend)."
    )
    rule_id: str | None = Field(description="The deciding rule's id, or null.")
    rule_version: int | None = Field(description="The rules version of that rule, or null.")
    mapping: str | None = Field(description="The deciding mapping's key, or null.")
    decided_by: str = Field(description="What decided it, in one line.")


class ExplainOut(Out):
    rows: list[ExplainRow] = Field(
        description="For each connection that knows the subject, each dimension's value(s)."
    )


# -- mappings and rules -------------------------------------------------------------------------


class MappingOut(Out):
    subject_type: str = Field(
        description="api_key, service_account, user, rbac_group, workspace or connection."
    )
    subject: str = Field(description="The subject's id, name or e-mail, as imported.")
    dimension: str = Field(description="The allocation dimension.")
    value: str = Field(description="The value its spend goes to.")
    valid_from: date = Field(description="First day it applies.")
    valid_to: date | None = Field(description="Day it stops applying (exclusive); null: open.")
    source: str = Field(description="Where it came from (file and line, or SCIM group).")
    key: str = Field(description="The mapping's stored key.")


class MappingsOut(Out):
    mappings: list[MappingOut] = Field(description="By dimension, subject type and subject.")


class RulesInForce(Out):
    version: int = Field(description="The version number.")
    effective_from: date = Field(description="First day it applies.")
    effective_until: date | None = Field(
        description="The day the next version takes over (exclusive); null: open."
    )
    source: str = Field(description="The file it was installed from.")
    installed_at: datetime = Field(description="When it was installed.")
    dimensions: list[str] = Field(description="The dimensions it defines.")
    rules_toml: str = Field(description="The rules, as installed (TOML).")


class RulesVersion(Out):
    version: int = Field(description="The version number.")
    effective_from: date = Field(description="First day it applies.")
    source: str = Field(description="The file it was installed from.")
    installed_at: datetime = Field(description="When it was installed.")
    dimensions: list[str] = Field(description="The dimensions it defines.")


class RulesOut(Out):
    in_force: RulesInForce | None = Field(
        description="The version in force on `as_of`, or null when none is."
    )
    versions: list[RulesVersion] = Field(description="Every version installed, by effective day.")


# -- changes ------------------------------------------------------------------------------------


class MappingsIn(BaseModel):
    format: Literal["csv", "scim"] = Field(
        default="csv",
        description="`csv`: subject_type,subject,dimension,value,valid_from,valid_to; `scim`: "
        "a SCIM 2.0 Groups export (members matched to users by e-mail).",
    )
    name: str = Field(
        description="The file's name: it names the rows in messages and in `source`.",
        min_length=1,
        max_length=200,
    )
    text: str = Field(description="The file's content.", max_length=20_000_000)
    dimension: str | None = Field(
        default=None, description="SCIM: the dimension the group names go to."
    )
    valid_from: str | None = Field(
        default=None,
        description="SCIM: the first day the memberships apply (default: today).",
        json_schema_extra=DAY,
    )
    priority: list[str] = Field(
        default=[],
        description="SCIM: group names; a member of several takes the first listed.",
        max_length=1000,
    )
    backfill_from: str | None = Field(
        default=None,
        description="Allow changes to closed months from this day (a logged re-allocation).",
        json_schema_extra=DAY,
    )


class ImportedOut(Out):
    message: str = Field(
        description="`imported <n> mappings from <name> (change <id>)`, with what was trimmed, "
        "ended or skipped."
    )
    change_id: int = Field(description="The change in the allocation log.")
    rows: int = Field(description="Mapping rows imported.")
    trimmed: int = Field(description="Earlier mappings cut short where the new ones start.")
    closed: int = Field(description="SCIM: members of the previous export no longer listed, ended.")
    skipped: int = Field(description="SCIM: nested-group members skipped.")


class RulesIn(BaseModel):
    name: str = Field(
        description="The file's name (the version's `source`).", min_length=1, max_length=200
    )
    toml: str = Field(description="The rules (TOML).", max_length=2_000_000)
    effective: str | None = Field(
        default=None,
        description="First day the version applies (default: today).",
        json_schema_extra=DAY,
    )
    backfill_from: str | None = Field(
        default=None,
        description="Allow an effective day in a closed month (a logged re-allocation).",
        json_schema_extra=DAY,
    )


class RulesInstalledOut(Out):
    message: str = Field(
        description="`installed rules version <v> (<dimensions>), effective <day>`."
    )
    version: int = Field(description="The new version number.")
    effective_from: date = Field(description="First day it applies.")
    dimensions: list[str] = Field(description="The dimensions it defines.")


class ReallocateIn(BaseModel):
    backfill_from: str = Field(
        description="Recompute every day from this one with the configuration as it stands.",
        json_schema_extra=DAY,
    )


class ReallocatedOut(Out):
    message: str = Field(description="`re-allocated every day from <day> (change <id>)`.")
    change_id: int = Field(description="The change in the allocation log.")
