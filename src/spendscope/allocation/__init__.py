"""Cost allocation: every dollar of billed spend to exactly one value of each allocation
dimension (`team`, `cost_center`, …), effective-dated by day, with the reason for each.

- `model`: mappings (effective-dated rows, from CSV or SCIM), parsed and checked;
- `rules`: rule versions (TOML), parsed and checked;
- `resolve`: what decides a dimension's value for one spend row's subjects on one day;
- `store`: the configuration in the warehouse (imports, rule versions, the log);
- `engine`: the `allocation_rows` table, recomputed for the days that changed, splits exact;
- `readers`: coverage, explain, and the lists the interfaces show.

The guide is `docs/allocation.md`.
"""
