"""Family A Admin lists of the simulator, exercised through real HTTP and the official SDK."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import OrganizationInfo
from anthropic.types.organization import (
    APIKey,
    OrganizationInvite,
    OrganizationUser,
    RBACGroup,
    ServiceAccount,
    Workspace,
    WorkspaceMember,
)
from anthropic.types.organization.rbac_groups import RBACGroupMember
from pydantic import BaseModel

from conftest import NOW, Api
from spendscope.simulator.server import RunningSimulator
from spendscope.simulator.world import Organization, World

ORG = "/v1/organizations"
Client = anthropic.Anthropic


# -- fixtures and helpers ---------------------------------------------------------------------


def _client(url: str, key: str) -> Client:
    # Strict validation: every response is parsed into the SDK's pydantic models.
    return anthropic.Anthropic(
        api_key=key, base_url=url, max_retries=0, _strict_response_validation=True
    )


@pytest.fixture(scope="module")
def world(simulator: RunningSimulator) -> World:
    return simulator.sim.world


@pytest.fixture(scope="module")
def console(world: World) -> Organization:
    return world.console


@pytest.fixture(scope="module")
def enterprise(world: World) -> Organization:
    return world.enterprise


@pytest.fixture(scope="module")
def clients(
    simulator: RunningSimulator, api: Api, console_key: str, oauth_key: str, enterprise_key: str
) -> Iterator[dict[str, Client]]:
    made = {
        "console": _client(simulator.url, console_key),
        "oauth": _client(simulator.url, oauth_key),
        "enterprise": _client(simulator.url, enterprise_key),
        "analytics-only": _client(simulator.url, api.key("enterprise", "analytics-only")),
    }
    yield made
    for c in made.values():
        c.close()


def raw(api: Api, path: str, key: str, params: Any = None) -> dict[str, Any]:
    r = api.get(ORG + path, key, params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
}


def fail(api: Api, status: int, path: str, key: str, params: Any = None) -> dict[str, Any]:
    """A GET that must fail with `status` in the documented envelope; returns `error`."""
    r = api.get(ORG + path, key, params)
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == ERROR_TYPES[status]
    assert body["request_id"] == r.headers["request-id"]
    err: dict[str, Any] = body["error"]
    return err


def assert_model(item: dict[str, Any], model: type[BaseModel]) -> None:
    """The raw JSON carries every field the SDK model declares (required ones in particular)
    and validates against it."""
    declared = {f.alias or name: f for name, f in model.model_fields.items()}
    missing_required = [n for n, f in declared.items() if f.is_required() and n not in item]
    assert not missing_required, (model.__name__, missing_required)
    assert set(declared) <= set(item), (model.__name__, set(declared) - set(item))
    model.model_validate(item)


def ident(item: dict[str, Any]) -> str:
    return str(item.get("id") or item["user_id"])


# -- GET /me ------------------------------------------------------------------------------------


def test_me_answers_for_every_valid_key_type(
    api: Api, clients: dict[str, Client], console: Organization, enterprise: Organization
) -> None:
    me = clients["console"].organization.retrieve()
    assert isinstance(me, OrganizationInfo)
    assert (me.id, me.name, me.type) == (console.id, "Acme Platform", "organization")
    uuid.UUID(me.id)
    assert clients["oauth"].organization.retrieve().id == console.id
    ent = clients["enterprise"].organization.retrieve()
    assert (ent.id, ent.name) == (enterprise.id, "Acme Enterprise")
    # /me needs no scope: a key holding only read:spend_limits still gets an answer.
    body = raw(api, "/me", api.key("enterprise", "no-analytics-scope"))
    assert body == {"id": enterprise.id, "name": "Acme Enterprise", "type": "organization"}
    fail(api, 401, "/me", api.key("console", "admin-revoked"))


# -- the SDK's paginators walk every list ---------------------------------------------------------


@dataclass(frozen=True)
class ListCase:
    """One paginated list, fetched raw and through the SDK resource named after its path."""

    name: str
    key: str  # "console", "oauth" or "enterprise"
    path: str  # may hold {ws} (a Console workspace) or {group} (an Enterprise RBAC group)
    model: type[Any]
    params: dict[str, bool] = field(default_factory=dict)

    def parent(self, world: World) -> str | None:
        if "{ws}" in self.path:
            return world.console.workspaces[1].id
        if "{group}" in self.path:
            return world.enterprise.rbac_groups[0].id
        return None

    def raw_path(self, world: World) -> str:
        parent = self.parent(world)
        return self.path.format(ws=parent, group=parent)

    def walk(self, client: Client, world: World, size: int) -> list[Any]:
        """Every page the SDK's paginator fetches, starting with `limit=size`."""
        resource: Any = client.organization
        for part in (p for p in self.path.split("/") if p and "{" not in p):
            resource = getattr(resource, part)
        parent = self.parent(world)
        args = (parent,) if parent else ()
        return list(resource.list(*args, limit=size, **self.params).iter_pages())


WS_ALL = {"include_default": True, "include_archived": True}
ID_LISTS = [
    ListCase("users-console", "console", "/users", OrganizationUser),
    ListCase("users-enterprise", "enterprise", "/users", OrganizationUser),
    ListCase("workspaces", "console", "/workspaces", Workspace, WS_ALL),
    ListCase("ws-members", "console", "/workspaces/{ws}/members", WorkspaceMember),
    ListCase("api-keys", "console", "/api_keys", APIKey),
    ListCase("invites-console", "console", "/invites", OrganizationInvite),
    ListCase("invites-enterprise", "enterprise", "/invites", OrganizationInvite),
]
TOKEN_LISTS = [
    ListCase("rbac-groups", "enterprise", "/rbac_groups", RBACGroup),
    ListCase("rbac-members", "enterprise", "/rbac_groups/{group}/members", RBACGroupMember),
    ListCase("service-accounts", "oauth", "/service_accounts", ServiceAccount),
]


def _query(params: dict[str, bool]) -> dict[str, str]:
    return {k: str(v).lower() for k, v in params.items()}


@pytest.fixture(scope="module")
def keys(console_key: str, enterprise_key: str, oauth_key: str) -> dict[str, str]:
    return {"console": console_key, "enterprise": enterprise_key, "oauth": oauth_key}


@pytest.mark.parametrize("case", ID_LISTS, ids=[c.name for c in ID_LISTS])
def test_sdk_walks_every_page_of_id_lists(
    api: Api, clients: dict[str, Client], keys: dict[str, str], world: World, case: ListCase
) -> None:
    query = {**_query(case.params), "limit": 1000}
    big = raw(api, case.raw_path(world), keys[case.key], query)
    assert big["has_more"] is False
    items = big["data"]
    assert len(items) >= 3
    assert big["first_id"] == ident(items[0])
    assert big["last_id"] == ident(items[-1])
    for item in items:
        assert_model(item, case.model)
    size = max(2, len(items) // 4)
    pages = case.walk(clients[case.key], world, size)
    assert len(pages) == math.ceil(len(items) / size)
    assert all(0 < len(p.data) <= size for p in pages)
    assert all(isinstance(x, case.model) for p in pages for x in p.data)
    walked = [ident(x.model_dump(mode="json")) for p in pages for x in p.data]
    assert walked == [ident(x) for x in items]  # concatenated small pages == one large page
    assert pages[-1].has_more is False
    assert all(p.has_more for p in pages[:-1])


@pytest.mark.parametrize("case", TOKEN_LISTS, ids=[c.name for c in TOKEN_LISTS])
def test_sdk_walks_every_page_of_token_lists(
    api: Api, clients: dict[str, Client], keys: dict[str, str], world: World, case: ListCase
) -> None:
    big = raw(api, case.raw_path(world), keys[case.key], {"limit": 1000})
    assert big["next_page"] is None
    items = big["data"]
    assert len(items) >= 3
    for item in items:
        assert_model(item, case.model)
    for size in (1, 2):
        pages = case.walk(clients[case.key], world, size)
        assert len(pages) == math.ceil(len(items) / size)
        assert all(isinstance(x, case.model) for p in pages for x in p.data)
        walked = [x.model_dump(mode="json") for p in pages for x in p.data]
        assert [ident(x) for x in walked] == [ident(x) for x in items]
        assert pages[-1].next_page is None
        assert all(p.next_page for p in pages[:-1])


# -- ID cursor semantics ------------------------------------------------------------------------


def test_before_id_pages_backwards_with_the_sdk(
    api: Api, clients: dict[str, Client], enterprise_key: str
) -> None:
    ids = [u["id"] for u in raw(api, "/users", enterprise_key, {"limit": 1000})["data"]]
    pager = clients["enterprise"].organization.users.list(limit=7, before_id=ids[-1])
    pages = [[u.id for u in p.data] for p in pager.iter_pages()]
    # Each page is in list order and sits right before the previous one.
    assert pages[0] == ids[-8:-1]
    assert [i for p in reversed(pages) for i in p] == ids[:-1]
    body = raw(api, "/users", enterprise_key, {"before_id": ids[10], "limit": 3})
    assert [u["id"] for u in body["data"]] == ids[7:10]
    assert (body["first_id"], body["last_id"], body["has_more"]) == (ids[7], ids[9], True)
    first = raw(api, "/users", enterprise_key, {"before_id": ids[2], "limit": 5})
    assert [u["id"] for u in first["data"]] == ids[:2]
    assert first["has_more"] is False


def test_after_id_returns_the_following_items(api: Api, console_key: str) -> None:
    ids = [k["id"] for k in raw(api, "/api_keys", console_key, {"limit": 1000})["data"]]
    body = raw(api, "/api_keys", console_key, {"after_id": ids[4], "limit": 5})
    assert [k["id"] for k in body["data"]] == ids[5:10]
    assert body["has_more"] is True
    tail = raw(api, "/api_keys", console_key, {"after_id": ids[-1]})
    assert tail == {"data": [], "has_more": False, "first_id": None, "last_id": None}


@pytest.mark.parametrize("case", ID_LISTS, ids=[c.name for c in ID_LISTS])
def test_id_cursor_errors(api: Api, keys: dict[str, str], world: World, case: ListCase) -> None:
    path, key = case.raw_path(world), keys[case.key]
    a, b = (ident(x) for x in raw(api, path, key, {"limit": 2, **_query(case.params)})["data"])
    message = fail(api, 400, path, key, {"after_id": a, "before_id": b})["message"]
    assert "after_id" in message
    assert "before_id" in message
    for name in ("after_id", "before_id"):
        assert name in fail(api, 400, path, key, {name: "user_01NoSuch0000000000"})["message"]


@pytest.mark.parametrize(
    "case", ID_LISTS + TOKEN_LISTS, ids=[c.name for c in ID_LISTS + TOKEN_LISTS]
)
def test_limit_bounds(api: Api, keys: dict[str, str], world: World, case: ListCase) -> None:
    path, key = case.raw_path(world), keys[case.key]
    for bad in ("0", "-1", "1001", "abc", "2.5"):
        body = fail(api, 400, path, key, {"limit": bad})
        assert "limit" in body["message"]
    assert len(raw(api, path, key, {"limit": 1})["data"]) == 1
    full = raw(api, path, key, {"limit": 1000})["data"]
    assert len(raw(api, path, key)["data"]) == min(20, len(full))


# -- users --------------------------------------------------------------------------------------


def test_user_filters(
    api: Api, console_key: str, enterprise_key: str, console: Organization
) -> None:
    target = console.users[5]
    body = raw(api, "/users", console_key, {"email": target.email.upper()})
    assert [u["id"] for u in body["data"]] == [target.id]
    empty = raw(api, "/users", console_key, {"email": "nobody@nowhere.example"})
    assert empty == {"data": [], "has_more": False, "first_id": None, "last_id": None}
    pairs = [("roles[]", "admin"), ("roles[]", "billing"), ("limit", "1000")]
    picked = raw(api, "/users", console_key, pairs)["data"]
    expected = {u.id for u in console.users if u.role in ("admin", "billing")}
    assert picked
    assert {u["id"] for u in picked} == expected
    assert {u["role"] for u in picked} <= {"admin", "billing"}
    # Roles are validated against the organization kind's role set.
    fail(api, 400, "/users", console_key, {"roles[]": "owner"})
    fail(api, 400, "/users", enterprise_key, {"roles[]": "developer"})
    owners = raw(api, "/users", enterprise_key, {"roles[]": "primary_owner"})["data"]
    assert owners
    assert all(u["role"] == "primary_owner" for u in owners)


def test_deleted_enterprise_users_are_not_members(
    api: Api, clients: dict[str, Client], enterprise_key: str, enterprise: Organization
) -> None:
    deleted = [u for u in enterprise.users if u.deleted]
    assert deleted
    listed = {u["id"] for u in raw(api, "/users", enterprise_key, {"limit": 1000})["data"]}
    assert listed == {u.id for u in enterprise.users if not u.deleted}
    with pytest.raises(anthropic.NotFoundError):
        clients["enterprise"].organization.users.retrieve(deleted[0].id)


def test_user_retrieve_and_scope(
    api: Api, clients: dict[str, Client], console_key: str, console: Organization
) -> None:
    listed = raw(api, "/users", console_key, {"limit": 1000})["data"]
    for item in listed[:3]:
        assert raw(api, f"/users/{item['id']}", console_key) == item
    got = clients["console"].organization.users.retrieve(console.users[0].id)
    assert got.email == console.users[0].email
    with pytest.raises(anthropic.NotFoundError) as exc:
        clients["console"].organization.users.retrieve("user_01Unknown0000000000000000")
    assert exc.value.status_code == 404
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        clients["analytics-only"].organization.users.list()
    assert "read:users" in str(denied.value)


# -- workspaces ---------------------------------------------------------------------------------


def test_workspace_listing_options(api: Api, console_key: str, console: Organization) -> None:
    default = console.workspaces[0]
    assert default.is_default
    archived = {w.id for w in console.workspaces if w.archived_at}
    assert archived
    plain = raw(api, "/workspaces", console_key)["data"]
    ids = [w["id"] for w in plain]
    assert default.id not in ids
    assert not archived & set(ids)
    with_default = raw(api, "/workspaces", console_key, {"include_default": "true"})["data"]
    assert with_default[0]["id"] == default.id
    assert [w["id"] for w in with_default[1:]] == ids
    every = raw(
        api,
        "/workspaces",
        console_key,
        {"include_default": "true", "include_archived": "true", "limit": 1000},
    )["data"]
    assert len(every) >= 5
    assert {w["id"] for w in every} == {w.id for w in console.workspaces}
    assert [w["archived_at"] is not None for w in every].count(True) == len(archived)
    chosen = [ids[1], default.id, "wrkspc_01NotAWorkspace00000000"]
    picked = raw(api, "/workspaces", console_key, [("ids[]", i) for i in chosen])["data"]
    assert [w["id"] for w in picked] == [ids[1]]  # default excluded, unknown left out
    picked = raw(
        api,
        "/workspaces",
        console_key,
        [("ids[]", i) for i in chosen] + [("include_default", "true")],
    )["data"]
    assert [w["id"] for w in picked] == [default.id, ids[1]]
    too_many = [("ids[]", f"wrkspc_{n}") for n in range(101)]
    fail(api, 400, "/workspaces", console_key, too_many)
    assert raw(api, f"/workspaces/{default.id}", console_key)["id"] == default.id
    fail(api, 404, "/workspaces/wrkspc_01Nope", console_key)
    fail(api, 403, "/workspaces", api.key("enterprise", "analytics"))


def test_workspace_members(
    api: Api, clients: dict[str, Client], console_key: str, console: Organization
) -> None:
    ws = next(w for w in console.workspaces if len(w.members) >= 3)
    members = raw(api, f"/workspaces/{ws.id}/members", console_key, {"limit": 1000})["data"]
    assert {(m["user_id"], m["workspace_role"]) for m in members} == set(ws.members)
    assert all(m["workspace_id"] == ws.id and m["type"] == "workspace_member" for m in members)
    user_id, role = ws.members[0]
    one = clients["console"].organization.workspaces.members.retrieve(user_id, workspace_id=ws.id)
    assert (one.user_id, one.workspace_role) == (user_id, role)
    outsider = next(u.id for u in console.users if u.id not in dict(ws.members))
    fail(api, 404, f"/workspaces/{ws.id}/members/{outsider}", console_key)
    fail(api, 404, "/workspaces/wrkspc_01Nope/members", console_key)


# -- API keys -----------------------------------------------------------------------------------


def test_api_key_filters_and_fields(api: Api, console_key: str, console: Organization) -> None:
    keys = raw(api, "/api_keys", console_key, {"limit": 1000})["data"]
    assert len(keys) >= 30
    default = console.workspaces[0].id
    for k in keys:
        assert k["scope"]["type"] == "workspace"
        assert k["workspace_id"] == (
            None if k["scope"]["workspace_id"] == default else k["scope"]["workspace_id"]
        )
    in_default = raw(api, "/api_keys", console_key, {"workspace_id": default, "limit": 1000})
    assert in_default["data"]
    assert all(k["workspace_id"] is None for k in in_default["data"])
    assert len(in_default["data"]) == sum(k.workspace_id == default for k in console.api_keys)
    for status in ("active", "inactive", "archived", "expired"):
        got = raw(api, "/api_keys", console_key, {"status": status, "limit": 1000})["data"]
        assert all(k["status"] == status for k in got)
        assert len(got) == sum(k.status == status for k in console.api_keys)
    creator = console.api_keys[3].created_by_user_id
    mine = raw(api, "/api_keys", console_key, {"created_by_user_id": creator})["data"]
    assert mine
    assert all(k["created_by"]["id"] == creator for k in mine)
    fail(api, 400, "/api_keys", console_key, {"status": "revoked"})
    assert raw(api, f"/api_keys/{keys[7]['id']}", console_key) == keys[7]
    fail(api, 404, "/api_keys/apikey_01Nope", console_key)


# -- invites ------------------------------------------------------------------------------------


def test_invite_filters(
    api: Api, console_key: str, enterprise: Organization, enterprise_key: str
) -> None:
    every = raw(api, "/invites", enterprise_key, {"limit": 1000})["data"]
    assert len(every) == len(enterprise.invites)
    pending = raw(api, "/invites", enterprise_key, {"statuses[]": "pending"})["data"]
    assert pending
    assert all(i["status"] == "pending" for i in pending)
    two = raw(
        api, "/invites", enterprise_key, [("statuses[]", "accepted"), ("statuses[]", "expired")]
    )
    assert len(two["data"]) == len(every) - len(pending)
    target = every[2]
    by_email = raw(api, "/invites", enterprise_key, {"email": target["email"].title()})["data"]
    assert by_email == [target]
    role = target["role"]
    by_role = raw(api, "/invites", enterprise_key, {"roles[]": role})["data"]
    assert target in by_role
    assert all(i["role"] == role for i in by_role)
    fail(api, 400, "/invites", enterprise_key, {"statuses[]": "deleted"})
    fail(api, 400, "/invites", console_key, {"roles[]": "managed"})
    assert raw(api, f"/invites/{target['id']}", enterprise_key) == target
    fail(api, 404, "/invites/invite_01Nope", enterprise_key)
    denied = fail(api, 403, "/invites", api.key("enterprise", "analytics-only"))
    assert "read:invites" in denied["message"]


# -- service accounts ---------------------------------------------------------------------------


def test_service_accounts_need_an_oauth_token(
    api: Api, clients: dict[str, Client], oauth_key: str, console: Organization
) -> None:
    with pytest.raises(anthropic.PermissionDeniedError):
        clients["console"].organization.service_accounts.list()
    fail(api, 403, "/service_accounts", api.key("enterprise", "analytics"))
    listed = list(clients["oauth"].organization.service_accounts.list())
    assert len(listed) == len(console.service_accounts)
    created = [s.created_at for s in listed]
    assert created == sorted(created, reverse=True)  # newest first
    one = raw(api, f"/service_accounts/{listed[0].id}", oauth_key)
    assert one["name"] == listed[0].name
    fail(api, 404, "/service_accounts/svac_01Nope", oauth_key)


def test_token_cursor_is_bound_to_the_query(api: Api, oauth_key: str) -> None:
    first = raw(api, "/service_accounts", oauth_key, {"limit": 1})
    token = first["next_page"]
    assert token
    second = raw(api, "/service_accounts", oauth_key, {"limit": 1, "page": token})
    assert second["data"][0]["id"] != first["data"][0]["id"]
    changed = {"limit": 1, "page": token, "include_archived": "true"}
    body = fail(api, 400, "/service_accounts", oauth_key, changed)
    assert "cursor does not match" in body["message"]
    fail(api, 400, "/service_accounts", oauth_key, {"page": "garbage!"})


def test_service_account_default_limit_is_configurable(fresh_simulator: RunningSimulator) -> None:
    url = fresh_simulator.url
    api = Api(url)
    key = api.key("console", "oauth-org-admin")
    assert len(raw(api, "/service_accounts", key)["data"]) == 3
    httpx.post(url + "/_simulator/config", json={"service_accounts_default_limit": 2})
    body = raw(api, "/service_accounts", key)
    assert len(body["data"]) == 2
    assert body["next_page"]


# -- RBAC groups --------------------------------------------------------------------------------


def test_rbac_group_access_rules(api: Api, clients: dict[str, Client], console_key: str) -> None:
    body = fail(api, 400, "/rbac_groups", console_key)
    assert body["details"]["error_code"] == "organization_type_not_supported"
    with pytest.raises(anthropic.PermissionDeniedError) as exc:
        clients["analytics-only"].organization.rbac_groups.list()
    assert "read:groups" in str(exc.value)


def test_rbac_group_members(
    api: Api, clients: dict[str, Client], enterprise_key: str, enterprise: Organization
) -> None:
    client = clients["enterprise"]
    groups = list(client.organization.rbac_groups.list(limit=3))
    assert len(groups) == len(enterprise.rbac_groups) >= 3
    users = {u.id: u for u in enterprise.users}
    seen: set[str] = set()
    for group in groups:
        members = list(client.organization.rbac_groups.members.list(group.id, limit=4))
        for m in members:
            assert m.rbac_group_id == group.id
            assert m.email == users[m.user_id].email
            assert not users[m.user_id].deleted
        expected = {m.user_id: m.start for m in enterprise.members_at(group.id, NOW)}
        assert {m.user_id: m.created_at for m in members} == {
            u: start for u, start in expected.items() if not users[u].deleted
        }
        seen |= {m.user_id for m in members}
    assert len(seen) >= 50
    got = client.organization.rbac_groups.retrieve(groups[0].id)
    assert (got.id, got.name) == (groups[0].id, groups[0].name)
    fail(api, 404, "/rbac_groups/rbac_group_01Nope", enterprise_key)
    fail(api, 404, "/rbac_groups/rbac_group_01Nope/members", enterprise_key)
