"""The `spendscope` command line: the root group (`root`), one module per command, and what
they share (`options`). Here the commands are attached to the root group; no command module
imports this package or another command.

Each command parses, calls one library function, and renders. Data goes to stdout, progress and
logs to stderr; errors are one line on stderr (`error: …`, then what to do) and a non-zero exit.
Heavy modules are imported inside the commands that need them, so `spendscope --help` stays fast.
"""

from . import (
    alerts,
    allocation,
    anomalies,
    budgets,
    connect,
    connections,
    demo,
    forecast,
    limits,
    report,
    serve,
    simulate,
    status,
    sync,
)
from .root import main

main.add_command(connect.connect)
main.add_command(connections.connections)
main.add_command(sync.sync)
main.add_command(status.status)
main.add_command(report.report)
main.add_command(allocation.allocation)
main.add_command(forecast.forecast)
main.add_command(budgets.budgets)
main.add_command(anomalies.anomalies)
main.add_command(limits.limits)
main.add_command(alerts.alerts)
main.add_command(serve.serve)
main.add_command(demo.demo)
main.add_command(simulate.simulate)

__all__ = ["main"]
