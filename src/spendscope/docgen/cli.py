"""`docs/cli.md`, generated from the commands' help."""

from __future__ import annotations

import click


def cli_markdown() -> str:
    from ..cli import main

    out = [
        "# Command-line reference",
        "",
        "Generated from the commands' help (`python -m spendscope.docgen`); do not edit by "
        "hand. Data goes to stdout, progress and logs to stderr; errors are one line on "
        "stderr and a non-zero exit.",
        "",
    ]

    def walk(cmd: click.Command, path: list[str], parent: click.Context | None) -> None:
        # The command's own context settings (e.g. `-h` as well as `--help`), as when it runs.
        settings = {"terminal_width": 100, "max_content_width": 100, **cmd.context_settings}
        ctx = click.Context(cmd, info_name=path[-1], parent=parent, **settings)
        if isinstance(cmd, click.Group):
            out.extend([f"## `{' '.join(path)}`", "", "```", cmd.get_help(ctx), "```", ""])
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                if sub is not None:
                    walk(sub, [*path, name], ctx)
            return
        out.extend([f"## `{' '.join(path)}`", "", "```", cmd.get_help(ctx), "```", ""])

    walk(main, ["spendscope"], None)
    return "\n".join(out).rstrip() + "\n"
