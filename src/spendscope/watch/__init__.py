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
- `budgets`: the entry points the CLI and the API call;
- `estimate`: priced usage not billed yet, for budgets on the `billed_estimated` basis;
- `anomaly_score`: the robust scores of a daily series (pure functions);
- `anomalies`, `anomaly_store`, `anomaly_view`: anomalies per scope and value, their drivers,
  lifecycle and feedback, kept in the warehouse and shown by the CLI and the API;
- `anomaly_alerts`, `limit_alerts`: the alerts of anomalies and of members near their
  Anthropic spend cap;
- `alerting`: budgets, anomalies and caps evaluated together and delivered.

The guides are `docs/forecast.md`, `docs/budgets.md`, `docs/anomalies.md`, `docs/alerts.md`
and `docs/spend-limits.md`.
"""
