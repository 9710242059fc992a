"""The four pagination styles of the Anthropic organization APIs (anthropic-api.md §1.4).

Each generator yields whole page envelopes (dicts), so callers see `data` and also
`data_refreshed_at`, `organization_id` and the like. Every request re-sends all the original
query parameters plus the cursor, as the official SDK does.

- `id_pages`: Admin lists (users, workspaces, workspace members, api_keys, invites);
  `after_id=<last_id>` while `has_more`.
- `token_pages`: service_accounts, rbac_groups (+ members), engagement endpoints (D);
  `page=<next_page>` while `next_page`.
- `report_pages`: analytics usage/cost (B) and legacy Enterprise reports (C); stop if
  `has_more` is false, else if `next_page` is empty.
- `console_report_pages`: Console usage/cost/Claude Code reports (A); `page=<next_page>`
  while `has_more`.

A server that claims more pages but hands back an empty or already-seen cursor would make a
naive loop spin forever or silently stop short; here it raises `MalformedResponse`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from ..errors import MalformedResponse
from .client import QueryParams, encode_params

__all__ = ["PageSource", "console_report_pages", "id_pages", "report_pages", "token_pages"]

Page = dict[str, Any]


class PageSource(Protocol):
    """What the paginators need of a client (`AnthropicClient` fits)."""

    def get(
        self, path: str, params: QueryParams | None = None, betas: Sequence[str] = ()
    ) -> dict[str, Any]: ...


def _malformed(path: str, why: str) -> MalformedResponse:
    return MalformedResponse(
        f"Anthropic API pagination on GET {path} is inconsistent: {why}",
        status=200,
        path=path,
    )


def _checked(page: Page, path: str) -> Page:
    if not isinstance(page.get("data"), list):
        raise _malformed(path, "the page has no `data` list")
    return page


def _walk(
    client: PageSource,
    path: str,
    *,
    params: QueryParams | None,
    limit: int | None,
    betas: Sequence[str],
    cursor_name: str,
    next_cursor: Callable[[Page], str | None],
    drop: frozenset[str] = frozenset(),
) -> Iterator[Page]:
    """Request pages until `next_cursor(page)` returns None; a cursor that is empty or was
    already sent is an error."""
    base = [(k, v) for k, v in encode_params(params) if k not in drop | {cursor_name}]
    if limit is not None:
        base = [(k, v) for k, v in base if k != "limit"] + [("limit", str(limit))]
    first = [(k, v) for k, v in encode_params(params) if k == cursor_name]
    query = base + first
    seen: set[str] = {v for _, v in first}
    while True:
        page = _checked(client.get(path, query, betas), path)
        yield page
        cursor = next_cursor(page)
        if cursor is None:
            return
        if cursor in seen:
            raise _malformed(path, f"more pages announced but cursor {cursor!r} repeats")
        seen.add(cursor)
        query = [*base, (cursor_name, cursor)]


def _more(page: Page, path: str, field: str) -> str:
    cursor = page.get(field)
    if not isinstance(cursor, str) or not cursor:
        raise _malformed(path, f"has_more is true but `{field}` is empty")
    return cursor


def id_pages(
    client: PageSource,
    path: str,
    params: QueryParams | None = None,
    limit: int | None = None,
    *,
    betas: Sequence[str] = (),
) -> Iterator[Page]:
    """ID-cursor lists (`{data, has_more, first_id, last_id}`): forward with
    `after_id=<last_id>`; if the original query used `before_id`, backward with
    `before_id=<first_id>`."""
    backward = any(k == "before_id" for k, _ in encode_params(params))
    name, field = ("before_id", "first_id") if backward else ("after_id", "last_id")

    def next_cursor(page: Page) -> str | None:
        return _more(page, path, field) if page.get("has_more") is True else None

    return _walk(
        client,
        path,
        params=params,
        limit=limit,
        betas=betas,
        cursor_name=name,
        next_cursor=next_cursor,
        drop=frozenset({"after_id", "before_id"}),
    )


def token_pages(
    client: PageSource,
    path: str,
    params: QueryParams | None = None,
    limit: int | None = None,
    *,
    betas: Sequence[str] = (),
) -> Iterator[Page]:
    """Token-cursor lists (`{data, next_page}`): `page=<next_page>` until it is null/empty."""

    def next_cursor(page: Page) -> str | None:
        cursor = page.get("next_page")
        return cursor if isinstance(cursor, str) and cursor else None

    return _walk(
        client,
        path,
        params=params,
        limit=limit,
        betas=betas,
        cursor_name="page",
        next_cursor=next_cursor,
    )


def report_pages(
    client: PageSource,
    path: str,
    params: QueryParams | None = None,
    limit: int | None = None,
    *,
    betas: Sequence[str] = (),
) -> Iterator[Page]:
    """Report cursors of families B and C (`{data, has_more, next_page, data_refreshed_at}`):
    stop if `has_more` is false, else if `next_page` is empty (an explicit `has_more: true`
    with no cursor is an error)."""

    def next_cursor(page: Page) -> str | None:
        has_more = page.get("has_more")
        if has_more is False:
            return None
        if has_more is True:
            return _more(page, path, "next_page")
        cursor = page.get("next_page")
        return cursor if isinstance(cursor, str) and cursor else None

    return _walk(
        client,
        path,
        params=params,
        limit=limit,
        betas=betas,
        cursor_name="page",
        next_cursor=next_cursor,
    )


def console_report_pages(
    client: PageSource,
    path: str,
    params: QueryParams | None = None,
    limit: int | None = None,
    *,
    betas: Sequence[str] = (),
) -> Iterator[Page]:
    """Console reports of family A (`{data, has_more, next_page}`): while `has_more`,
    `page=<next_page>`."""

    def next_cursor(page: Page) -> str | None:
        return _more(page, path, "next_page") if page.get("has_more") is True else None

    return _walk(
        client,
        path,
        params=params,
        limit=limit,
        betas=betas,
        cursor_name="page",
        next_cursor=next_cursor,
    )
