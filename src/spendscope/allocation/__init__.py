"""Cost allocation: every dollar of billed spend to exactly one value of each allocation
dimension (`team`, `cost_center`, …), effective-dated by day, with the reason for each.

- `model`: mappings (effective-dated rows, from CSV or SCIM), parsed and checked;
- `rules`: rule versions (TOML), parsed and checked;
- `resolve`: what decides a dimension's value for one spend row's subjects on one day;
- `store`: the configuration in the warehouse (imports, rule versions, the log);
- `outcomes`: the distinct profiles of the spend rows, resolved once per epoch and dimension;
- `engine`: the `allocation_rows` table, recomputed for the days that changed, splits exact;
- `mart`: `mart_allocation`, its daily sums by value, kept with it;
- `readers`: coverage, explain, and the lists the interfaces show.

The guide is `docs/allocation.md`.
"""
