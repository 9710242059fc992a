"""The `spendscope` command line: one module per command group; `main` wires them."""

from .main import main

__all__ = ["main"]
