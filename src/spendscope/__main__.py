"""`python -m spendscope` runs the CLI."""

from spendscope.cli import main

main()
