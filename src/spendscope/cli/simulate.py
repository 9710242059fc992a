"""`spendscope simulate`: the local stand-in for the Anthropic APIs, in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import fail, parse_now


def _parse_setting(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    if not sep:
        raise click.BadParameter(f"'{item}' is not NAME=VALUE")
    value: Any = raw
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    elif "," in raw:
        value = [v for v in raw.split(",") if v]
    return name.strip(), value


def _injections(items: tuple[str, ...]) -> list[str]:
    """The --inject specs: each a spec, or @FILE holding one spec a line (# comments)."""
    out: list[str] = []
    for item in items:
        if not item.startswith("@"):
            out.append(item)
            continue
        try:
            text = Path(item[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"--inject: cannot read {item[1:]}: {exc.strerror or exc}")
        lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
        out += [line for line in lines if line]
    return out


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 = any free).")
@click.option(
    "--seed",
    default=42,
    show_default=True,
    type=int,
    help="Seed of the synthetic organizations (same seed, same data).",
)
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO-8601",
    help="Freeze the simulated clock at this instant (default: follow the real clock).",
)
@click.option(
    "--rpm",
    default=60,
    show_default=True,
    type=int,
    help="Analytics API requests per minute per organization (0 = unlimited).",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Fraction of requests that get an injected fault.",
)
@click.option(
    "--latency-ms", default=0, show_default=True, type=int, help="Latency added to every response."
)
@click.option(
    "--history-days",
    default=400,
    show_default=True,
    type=int,
    help="Days of synthetic history back from the clock.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any other simulator setting (see docs/simulator.md), repeatable.",
)
@click.option(
    "--inject",
    "injections",
    multiple=True,
    metavar="SPEC",
    help="Inject an anomaly at start, e.g. spike:workspace=NAME:day=-3:x=6 or "
    "shift:model=NAME:day=2026-11-01:x=1.5; @FILE reads one spec a line. Repeatable.",
)
@click.option("--verbose", is_flag=True, help="Log every request on stderr.")
def simulate(
    host: str,
    port: int,
    seed: int,
    now_text: str | None,
    rpm: int,
    fault_rate: float,
    latency_ms: int,
    history_days: int,
    settings: tuple[str, ...],
    injections: tuple[str, ...],
    verbose: bool,
) -> None:
    """Serve a faithful local stand-in for the Anthropic usage, cost, admin and analytics APIs.

    Synthetic organizations, deterministic from --seed: a Console organization that is the
    child of an Enterprise organization, and an Enterprise organization whose analytics API is
    not enabled. Their keys and ids are at GET /_simulator/info; the true daily totals at
    GET /_simulator/truth. Anomalies injected with --inject (or later through
    POST /_simulator/injections) show in every report and in the truth alike.
    """
    from ..simulator.inject import InjectionError
    from ..simulator.server import make_server
    from ..simulator.state import SimConfig

    if not 0.0 <= fault_rate <= 1.0:
        fail("--fault-rate must be between 0 and 1")
    config = SimConfig(seed=seed, rpm=rpm, fault_rate=fault_rate, latency_ms=latency_ms)
    try:
        config.update(dict(_parse_setting(s) for s in settings), running=False)
    except (ValueError, TypeError) as exc:
        fail(f"--set: {exc}")
    config.injections = (*config.injections, *_injections(injections))
    try:
        server = make_server(
            config,
            host,
            port,
            now=parse_now(now_text),
            verbose=verbose,
            history_days=history_days,
            warm=True,
        )
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except InjectionError as exc:
        fail(f"--inject: {exc}")
    sim = server.sim
    click.echo(
        f"spendscope simulator on {server.url}  (clock {sim.now():%Y-%m-%d %H:%M}Z, "
        f"seed {seed}, {rpm or 'unlimited'} rpm)",
        err=True,
    )
    for org in sim.world.orgs:
        flags = "" if org.analytics_enabled else ", analytics not enabled"
        parent = ", child of " + sim.world.org(org.parent_id).name if org.parent_id else ""
        click.echo(f"  {org.kind:<10} {org.name}  {org.id}{parent}{flags}", err=True)
    for inj in sim.store.injections():
        named = f"  ({inj.label})" if inj.label != inj.entity else ""
        click.echo(f"  injected   {inj.spec}{named}", err=True)
    click.echo(
        f"keys and ids: {server.url}/_simulator/info   truth: {server.url}/_simulator/truth",
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
