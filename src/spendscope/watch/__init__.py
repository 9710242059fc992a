"""Watching spend: month-end forecasts of any scope with a measured band, the ground budgets,
anomalies and alerts stand on.

- `series`: a scope's daily billed cost over its complete days, read through `reporting`;
- `forecast`: the month-end forecast of such a series (pure functions), its state, and the
  reconciliation that makes children add up to their parent;
- `outlook`: both together for a scope and its children, as the CLI and the API answer it;
- `budget_model`: a budget (scope, monthly amounts, thresholds, basis, parent) and its checks;
- `budget_store`: budgets and their per-month amounts in the warehouse;
- `budget_states`: each (budget, threshold, month) state, `ok → firing → resolved`, and the
  events an evaluation opens or clears;
- `budget_view`: a budget's month — to date, forecast, thresholds — as `budgets list` shows it;
- `budgets`: the entry points the CLI and the API call.

The guides are `docs/forecast.md` and `docs/budgets.md`.
"""
