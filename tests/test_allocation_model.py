"""Allocation configuration parsed and checked: CSV mappings, SCIM groups and TOML rules name the
line or rule and the reason; the resolver follows the documented order."""

from __future__ import annotations

import json
from datetime import date

import pytest

from spendscope.allocation.model import (
    RESERVED,
    parse_import,
    parse_mappings_csv,
    parse_scim_groups,
)
from spendscope.allocation.resolve import (
    DayConfig,
    Profile,
    dimension_rules,
    identities,
    index_mappings,
    resolve,
)
from spendscope.allocation.rules import parse_rules
from spendscope.errors import InvalidInput
from spendscope.reporting.catalog import DIMENSIONS, GRANULARITIES

HEADER = "subject_type,subject,dimension,value,valid_from,valid_to\n"


def test_reserved_names_are_the_built_in_dimensions() -> None:
    assert set(DIMENSIONS) | set(GRANULARITIES) == RESERVED


def test_a_good_csv_parses_with_its_lines() -> None:
    rows = parse_mappings_csv(
        "\ufeff" + HEADER + "api_key,Team-A-Prod,team,a,2026-01-01,\n\n"
        "user,Ana@Acme.example,team,b,2026-01-01,2026-02-01\n",
        "t.csv",
    )
    assert [(m.subject_type, m.key, m.valid_to, m.source) for m in rows] == [
        ("api_key", "team-a-prod", None, "t.csv line 2"),
        ("user", "ana@acme.example", date(2026, 2, 1), "t.csv line 4"),
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "t.csv is empty"),
        ("a,b\n", "t.csv line 1: the header must be"),
        (HEADER + "team,x,team,a,2026-01-01,\n", "t.csv line 2: subject_type 'team'"),
        (HEADER + "user,x,Team,a,2026-01-01,\n", "dimension 'Team' is not a valid name"),
        (HEADER + "user,x,model,a,2026-01-01,\n", "dimension 'model' is a built-in"),
        (HEADER + "user,x,team,,2026-01-01,\n", "t.csv line 2: value is empty"),
        (HEADER + "user,x,team,a,01/02/2026,\n", "t.csv line 2: valid_from '01/02/2026'"),
        (HEADER + "user,x,team,a,2026-02-01,2026-02-01\n", "is not after valid_from"),
        (HEADER + "user,x,team,a\n", "t.csv line 2: 4 cells, the header has 6"),
        (HEADER + "user,x\x07y,team,a,2026-01-01,\n", "control character"),
        (
            HEADER + "user,X,team,a,2026-01-01,\nuser,x,team,b,2026-01-15,2026-03-01\n",
            "t.csv line 3: user 'x' already has a team for some of these days (t.csv line 2)",
        ),
        (HEADER, "t.csv holds no mapping rows"),
    ],
)
def test_a_bad_csv_names_the_line_and_the_reason(body: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_mappings_csv(body, "t.csv")
    assert expected in err.value.message


def test_every_bad_row_is_counted() -> None:
    body = HEADER + "".join(f"bogus,x{i},team,a,2026-01-01,\n" for i in range(8))
    with pytest.raises(InvalidInput) as err:
        parse_mappings_csv(body, "t.csv")
    assert "(and 3 more)" in err.value.message
    assert "Nothing of t.csv was imported" in err.value.message


def scim(*groups: tuple[str, list[dict[str, str]]]) -> str:
    resources = [{"displayName": name, "members": members} for name, members in groups]
    return json.dumps({"schemas": [], "Resources": resources})


def test_scim_groups_become_user_mappings() -> None:
    text = scim(
        ("Payments", [{"value": "1", "display": "ana@acme.example"}, {"type": "Group"}]),
        ("Search", [{"value": "2", "emails": [{"value": "bo@acme.example"}]}]),  # type: ignore[list-item]
    )
    rows, skipped = parse_scim_groups(text, "g.json", "team", date(2026, 11, 1))
    assert skipped == 1
    assert sorted((m.subject, m.value) for m in rows) == [
        ("ana@acme.example", "Payments"),
        ("bo@acme.example", "Search"),
    ]


def test_a_member_of_several_scim_groups_needs_a_priority() -> None:
    text = scim(
        ("Payments", [{"display": "ana@acme.example"}]),
        ("Search", [{"display": "ANA@acme.example"}]),
    )
    with pytest.raises(InvalidInput, match=r"several groups .*--priority"):
        parse_scim_groups(text, "g.json", "team", date(2026, 11, 1))
    rows, _ = parse_scim_groups(text, "g.json", "team", date(2026, 11, 1), ["search"])
    assert [m.value for m in rows] == ["Search"]


@pytest.mark.parametrize("dimension", [None, "", "  "])
def test_a_scim_import_needs_a_dimension(dimension: str | None) -> None:
    text = scim(("Payments", [{"display": "ana@acme.example"}]))
    with pytest.raises(InvalidInput) as err:
        parse_import("scim", text, "g.json", dimension=dimension, valid_from=date(2026, 11, 1))
    assert err.value.message == "A SCIM import needs a dimension (e.g. --dimension team)."


def test_an_import_parses_csv_or_scim_with_its_priority() -> None:
    text = scim(
        ("Payments", [{"display": "ana@acme.example"}, {"display": "bo@acme.example"}]),
        ("Search", [{"display": "Ana@acme.example"}, {"type": "Group", "value": "g9"}]),
    )
    day = date(2026, 11, 1)
    parsed = parse_import(
        "scim", text, "g.json", dimension=" team ", valid_from=day, priority=[" Search ", ""]
    )
    assert (parsed.skipped, parsed.replace_source) == (1, "scim g.json")
    assert [(m.subject, m.dimension, m.value, m.valid_from, m.source) for m in parsed.mappings] == [
        ("ana@acme.example", "team", "Search", day, "scim g.json group Search"),
        ("bo@acme.example", "team", "Payments", day, "scim g.json group Payments"),
    ]
    first = parse_import(
        "scim", text, "g.json", dimension="team", valid_from=day, priority=["payments"]
    )
    assert [m.value for m in first.mappings] == ["Payments", "Payments"]
    csv = parse_import("csv", HEADER + "user,x,team,a,2026-01-01,\n", "t.csv", valid_from=day)
    assert (csv.skipped, csv.replace_source) == (0, None)
    assert [(m.subject, m.valid_from) for m in csv.mappings] == [("x", date(2026, 1, 1))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = [", "is not valid TOML"),
        ("", "defines no dimension"),
        ("[dimensions.Team]", "dimension 'Team' is not a valid name"),
        ("[dimensions.team]\nfoo = 1", "unknown key 'foo'"),
        (
            '[[dimensions.team.rules]]\nwhen = { colour = { equals = "x" } }\nvalue = "a"',
            "dimensions.team.rules[0] (id 'team-1'): unknown field 'colour'",
        ),
        (
            '[[dimensions.team.rules]]\nwhen = { model = { like = "x" } }\nvalue = "a"',
            "unknown test 'like'",
        ),
        (
            '[[dimensions.team.rules]]\nwhen = { model = { regex = "(" } }\nvalue = "a"',
            "does not compile",
        ),
        (
            '[[dimensions.team.rules]]\nwhen = { model = { regex = "(x)" } }\nvalue = "{2}"',
            "names group {2} the regex lacks",
        ),
        ('[[dimensions.team.rules]]\nvalue = "{1}"', "uses {…} but the rule has no regex"),
        ('[[dimensions.team.rules]]\nvalue = "a"\ninherit = "model"', "exactly one of"),
        ('[[dimensions.team.rules]]\ninherit = "colour"', "inherit 'colour' is not one of"),
        (
            '[[dimensions.team.rules]]\nsplit = { method = "fixed", percentages = '
            "{ a = 50, b = 49.9 } }",
            "add up to 99.9, not 100",
        ),
        (
            '[[dimensions.team.rules]]\nsplit = { method = "even", values = ["a"] }',
            "at least two values",
        ),
        (
            '[[dimensions.team.rules]]\nid = "x"\nvalue = "a"\n'
            '[[dimensions.team.rules]]\nid = "x"\nvalue = "b"',
            "rule id 'x' is used twice",
        ),
        ('[dimensions.team]\nrbac = "priority"', "needs rbac_priority"),
        ('[dimensions.team]\norder = ["user", "team"]', "order names 'team'"),
    ],
)
def test_bad_rules_name_the_rule_and_the_reason(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_rules(text, "r.toml")
    assert expected in err.value.message
    assert err.value.message.startswith("r.toml")


def _config(rules: str, csv: str = "", day: date = date(2026, 11, 10)) -> DayConfig:
    mappings = (
        [(m, f"k{i}") for i, m in enumerate(parse_mappings_csv(HEADER + csv, "m.csv"))]
        if csv
        else []
    )
    return DayConfig(
        parse_rules(rules, "r.toml"), 1, index_mappings(mappings, day), identities(mappings)
    )


def _team(p: Profile, config: DayConfig) -> list[tuple[str, int | None, str, str | None]]:
    parts = resolve(p, dimension_rules(config.rules, "team"), config)
    return [(x.value, x.weight, x.method, x.split_method or x.reason) for x in parts]


RULES = """
[dimensions.team]
rbac = "priority"
rbac_priority = ["Platform"]

[[dimensions.team.rules]]
id = "key"
when = { api_key_name = { regex = "^team-(?P<t>[a-z]+)-" } }
value = "{t}"

[[dimensions.team.rules]]
id = "domain"
when = { user_email = { email_domain = "contractor.example" } }
value = "contractors"

[[dimensions.team.rules]]
id = "groups"
inherit = "rbac_group_name"
"""


def test_mappings_win_in_order_then_rules_then_the_default() -> None:
    config = _config(
        RULES,
        "workspace,Research,team,research,2026-01-01,\n"
        "api_key,apikey_1,team,keyed,2026-11-05,\n"
        "user,bo@acme.example,team,people,2026-01-01,\n",
    )
    key = Profile("c", api_key="apikey_1", api_key_name="team-pay-x", workspace_name="Research")
    assert _team(key, config) == [("keyed", 1, "mapping", None)]
    earlier = _config(RULES, "api_key,apikey_1,team,keyed,2026-11-05,\n", date(2026, 11, 4))
    assert _team(key, earlier) == [("pay", 1, "rule", None)]
    ws = Profile("c", api_key="apikey_2", workspace_name="research")
    assert _team(ws, config) == [("research", 1, "mapping", None)]
    contractor = Profile("c", user="u1", user_email="x@Contractor.example")
    # no mapping for the contractor: the rules decide, identity import or not
    assert _team(contractor, config) == [("contractors", 1, "rule", None)]
    assert _team(contractor, _config(RULES)) == [("contractors", 1, "rule", None)]
    stranger = Profile("c", user="u2", user_email="x@elsewhere.example")
    assert _team(stranger, config) == [
        ("Unallocated", 1, "default", "email_not_in_identity_import")
    ]


def test_several_groups_resolve_by_priority_or_split() -> None:
    groups = (("g1", "Design"), ("g2", "Platform"))
    user = Profile("c", user="u1", user_email="a@acme.example", rbac_groups=groups)
    assert _team(user, _config(RULES)) == [("Platform", 1, "rule", None)]
    split = _config(RULES.replace('rbac = "priority"', 'rbac = "split"'))
    assert _team(user, split) == [("Design", 1, "rule", "even"), ("Platform", 1, "rule", "even")]


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (Profile("c"), "no_subject_on_row"),
        (Profile("c", api_key="apikey_9", api_key_listed=False), "key_deleted"),
        (Profile("c", service_account="svac_1"), "service_account"),
        (Profile("c", user="u9", user_email="z@acme.example"), "email_not_in_identity_import"),
        (Profile("c", workspace="w1", workspace_name="Sandbox"), "no_rule_matched"),
    ],
)
def test_the_default_says_why(profile: Profile, reason: str) -> None:
    config = _config("[dimensions.team]\n", "user,bo@acme.example,team,people,2026-01-01,\n")
    assert _team(profile, config) == [("Unallocated", 1, "default", reason)]


def test_a_declared_order_and_group_mappings_by_priority() -> None:
    rules = '[dimensions.team]\norder = ["workspace", "api_key", "rbac_group"]\nrbac = "priority"\n'
    rules += 'rbac_priority = ["Search"]\n'
    mappings = (
        "workspace,Research,team,research,2026-01-01,\n"
        "api_key,apikey_1,team,keyed,2026-01-01,\n"
        "rbac_group,Payments,team,payments,2026-01-01,\n"
        "rbac_group,g2,team,search,2026-01-01,\n"
    )
    config = _config(rules, mappings)
    both = Profile("c", api_key="apikey_1", workspace="w1", workspace_name="Research")
    assert _team(both, config) == [("research", 1, "mapping", None)]  # workspace first here
    groups = (("g1", "Payments"), ("g2", "Search"))
    member = Profile("c", user="u1", rbac_groups=groups)
    assert _team(member, config) == [("search", 1, "mapping", None)]
    split = _config(rules.replace('rbac = "priority"', 'rbac = "split"'), mappings)
    assert _team(member, split) == [
        ("payments", 1, "mapping", "even"),
        ("search", 1, "mapping", "even"),
    ]


@pytest.mark.parametrize(
    ("rule", "profile", "expected"),
    [
        ('inherit = "workspace_name"', Profile("c", workspace_name="Research"), "Research"),
        ('inherit = "api_key_name"', Profile("c", api_key="k", api_key_name="ci"), "ci"),
        ('inherit = "user_email_domain"', Profile("c", user_email="a@x.example"), "x.example"),
        ('inherit = "connection"', Profile("acme"), "acme"),
        ('inherit = "model"', Profile("c", model="claude-opus-5"), "claude-opus-5"),
        # An empty capture, or a missing source, falls through to the default.
        (
            'when = { api_key_name = { regex = "^team-([a-z]*)" } }\nvalue = "{1}"',
            Profile("c", api_key="k", api_key_name="team-"),
            "Unallocated",
        ),
        ('inherit = "workspace_name"', Profile("c", api_key="k"), "Unallocated"),
        (
            'when = { product = { in = ["chat", "cowork"] } }\nvalue = "apps"',
            Profile("c", product="Chat"),
            "apps",
        ),
        ('when = { model = { equals = "x" } }\nvalue = "y"', Profile("c", model="X"), "y"),
    ],
)
def test_inherit_and_empty_values(rule: str, profile: Profile, expected: str) -> None:
    config = _config(f"[[dimensions.team.rules]]\n{rule}\n")
    assert [p[0] for p in _team(profile, config)] == [expected]


GROUP_RULES = """
[[dimensions.team.rules]]
id = "security"
when = { rbac_group = { equals = "security" } }
value = "sec"

[[dimensions.team.rules]]
id = "by-id"
when = { rbac_group = { in = ["g7"] } }
value = "seven"

[[dimensions.team.rules]]
id = "eng"
when = { rbac_group = { regex = "^(Platform|Data) Eng" } }
value = "engineering"
"""


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ((("g1", "Security"),), ("sec", "security")),  # by name, case ignored
        ((("g7", "Legal"), ("g1", "Security")), ("sec", "security")),  # any group; first rule
        ((("g7", "Legal"),), ("seven", "by-id")),  # by id
        ((("g2", "Platform Eng"),), ("engineering", "eng")),
        ((("g2", "platform eng"),), ("Unallocated", None)),  # a regex minds case
        ((("g3", "Design"),), ("Unallocated", None)),
        ((), ("Unallocated", None)),  # in no group that day
    ],
)
def test_the_rbac_group_condition_tests_every_group_of_the_user(
    groups: tuple[tuple[str, str], ...], expected: tuple[str, str | None]
) -> None:
    config = _config(GROUP_RULES)
    user = Profile("c", user="u1", user_email="a@acme.example", rbac_groups=groups)
    parts = resolve(user, dimension_rules(config.rules, "team"), config)
    assert [(p.value, p.rule_id) for p in parts] == [expected]
