"""Watching spend: month-end forecasts of any scope with a measured band, the ground budgets,
anomalies and alerts stand on.

- `series`: a scope's daily billed cost over its complete days, read through `reporting`;
- `forecast`: the month-end forecast of such a series (pure functions), its state, and the
  reconciliation that makes children add up to their parent;
- `outlook`: both together for a scope and its children, as the CLI and the API answer it.

The guide is `docs/forecast.md`.
"""
