"""The `spendscope` group: the root of the command line. Its commands are attached in
`spendscope.cli`."""

from __future__ import annotations

from typing import Any

import click

from .. import __version__
from .options import handle_error


class _Main(click.Group):
    """The `spendscope` group: no error that escapes a command shows a Python traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except (Exception, KeyboardInterrupt) as exc:
            handle_error(exc)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spendscope")
@click.option(
    "--debug",
    is_flag=True,
    help="On an error, print the full trace on stderr too (it always goes to "
    "$SPENDSCOPE_HOME/logs/spendscope.log).",
)
def main(debug: bool) -> None:
    """spendscope: where your organization's Claude money goes, exactly.

    Connect Anthropic Console (Admin API key) and Claude Enterprise (analytics key)
    organizations, sync their usage, cost, Claude Code and engagement data into a warehouse,
    and explore it from the CLI, a REST API or a web dashboard.
    """
    from .. import errorlog

    errorlog.set_debug(debug)
    errorlog.install()
