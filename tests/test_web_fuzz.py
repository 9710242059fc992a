"""schemathesis fuzzes the REST API in process from its own OpenAPI schema: no endpoint answers
500, every answer conforms to the schema (status codes, content types, bodies), and every error
is the one documented envelope `{"error": {"code", "message", "hint"}}`.

Reads are fuzzed over the shared `synced` warehouse, which must come out unchanged. The
operations that change something (connect, test, delete, sync) are fuzzed against a throwaway
home (one connection, one day of history); a generated base URL that could reach the network is
pointed at the simulator instead, so the run stays offline and fast. Besides the generated
examples, every date parameter gets the calendar's ends and the edges of the accepted range.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import NOW, Api, connect, make_settings
from spendscope.config import Settings
from spendscope.errors import InvalidInput
from spendscope.simulator.server import RunningSimulator
from spendscope.validation import check_base_url
from spendscope.web.app import create_app

LOCAL = "http://127.0.0.1"
MUTATING = {"POST", "DELETE"}
# Examples per operation and mode: enough to reach every parameter's edge values while the
# whole run stays well under a minute.
POSITIVE_EXAMPLES = 40
NEGATIVE_EXAMPLES = 20
# Days at and beyond the accepted range (2000-01-01 .. 2100-01-01) and the calendar's ends, sent
# to every date parameter: random dates rarely land on the ends, where date arithmetic overflows.
EDGE_DAYS = ["0001-01-01", "0001-01-05", "1999-12-31", "2000-01-01", "2100-01-01", "2100-01-02"]
EDGE_DAYS += ["9999-12-31"]
PATH_VALUES = {"name": "model", "label": "acme-console"}

pytestmark = pytest.mark.timeout(240)


def fingerprint(settings: Settings) -> list[Any]:
    """Every table's row count and row hash, and the connection store's bytes."""
    from spendscope.warehouse.connection import Warehouse

    wh = Warehouse(settings)
    try:
        tables = wh.read(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY ALL"
        )
        rows = [
            (s, t, *wh.read(f'SELECT count(*), bit_xor(hash(x)) FROM "{s}"."{t}" AS x')[0])
            for s, t in tables
        ]
    finally:
        wh.close()
    return [rows, settings.connections_file.read_bytes()]


def check_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx body is exactly the documented envelope."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"code", "message", "hint"}, err
    assert isinstance(err["code"], str), err
    assert isinstance(err["message"], str), err
    assert err["code"], err
    assert err["message"], err
    assert err["hint"] is None or isinstance(err["hint"], str), err
    assert "Traceback" not in response.text
    return None


def day_parameters(spec: dict[str, Any], path: str, method: str) -> list[str]:
    """The query parameters documented as dates (`format: date`)."""
    names = []
    for p in spec["paths"][path][method.lower()].get("parameters", []):
        options = p["schema"].get("anyOf", [p["schema"]])
        if p["in"] == "query" and any(o.get("format") == "date" for o in options):
            names.append(p["name"])
    return names


def fuzz(
    app: Any,
    methods: set[str],
    tally: Counter[int],
    adjust: Callable[[Any], None],
    part: tuple[int, int] = (0, 1),
) -> None:
    """Fuzz the operations of `methods`; `part` (k, n) takes every n-th of them from the k-th,
    so the reads can be spread over test workers."""
    spec = app.openapi()
    schema = schemathesis.openapi.from_dict(spec)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        check_envelope,
    ]
    operations = [r.ok() for r in schema.get_all_operations()]
    chosen = [op for op in operations if op.method.upper() in methods]
    for operation in chosen[part[0] :: part[1]]:
        path_values = {k: v for k, v in PATH_VALUES.items() if "{" + k + "}" in operation.path}
        for name in day_parameters(spec, operation.path, operation.method):
            for day in EDGE_DAYS:
                case = operation.Case(path_parameters=path_values, query={name: day})
                response = case.call_and_validate(base_url=LOCAL, app=app, checks=checks)
                tally[response.status_code] += 1
        for mode, examples in (
            (GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
            (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
        ):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                adjust(case)
                response = case.call_and_validate(base_url=LOCAL, app=app, checks=checks)
                tally[response.status_code] += 1

            try:
                run()
            except Unsatisfiable:
                # nothing to break: the operation takes no parameter and no body
                assert mode == GenerationMode.NEGATIVE, operation.label


READ_PARTS = 2


@pytest.mark.slow
@pytest.mark.parametrize("part", range(READ_PARTS))
def test_fuzzing_the_reads_finds_no_500_and_only_the_envelope(synced: Settings, part: int) -> None:
    tally: Counter[int] = Counter()
    before = fingerprint(synced)
    reads = create_app(synced, now=lambda: NOW, host="127.0.0.1")
    fuzz(reads, {"GET"}, tally, lambda case: None, (part, READ_PARTS))
    print(f"schemathesis: {sum(tally.values())} reads, statuses {dict(tally)}")
    assert 500 not in tally
    assert sum(tally.values()) > 250
    for status in (200, 400, 404, 422):
        assert tally[status] > 0, status
    # the shared warehouse came out of the read fuzzing untouched
    assert fingerprint(synced) == before


@pytest.mark.slow
def test_fuzzing_the_writes_finds_no_500_and_only_the_envelope(
    simulator: RunningSimulator, api: Api, tmp_path: Path
) -> None:
    tally: Counter[int] = Counter()
    throwaway = make_settings(
        tmp_path,
        console_backfill_days=1,
        enterprise_backfill_days=1,
        base_url=simulator.url,
        http_timeout=2.0,
    )
    connect(throwaway, api, simulator.url)
    writes = create_app(
        throwaway,
        now=lambda: NOW,
        host="127.0.0.1",
        client_options={"backoff_base": 0.01, "backoff_max": 0.05, "max_attempts": 1},
    )

    def offline(case: Any) -> None:
        """A base URL that passes validation would be dialled: dial the simulator instead."""
        body = case.body
        if isinstance(body, dict) and isinstance(body.get("base_url"), str):
            try:
                check_base_url(body["base_url"])
            except InvalidInput:
                return
            body["base_url"] = simulator.url

    fuzz(writes, MUTATING, tally, offline)
    print(f"schemathesis: {sum(tally.values())} writes, statuses {dict(tally)}")
    assert 500 not in tally
    assert sum(tally.values()) > 100
    for status in (200, 404, 422):
        assert tally[status] > 0, status
