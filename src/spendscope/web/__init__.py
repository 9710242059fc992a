"""The web dashboard and REST API (`spendscope serve`).

The API contract (every endpoint and its JSON) is in docs/api.md at the repository root.
"""
