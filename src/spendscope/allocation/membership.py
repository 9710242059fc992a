"""RBAC group membership over time, from the snapshots each sync takes.

The API lists a group's current members with the date each membership was created, and keeps no
removal history. So, for every connection whose snapshot (`rbac_group_members`, with the
`rbac_groups` list) is newer than what `rbac_membership` has seen:

- a member with no open interval opens one from the day its membership was created (or, when
  the API gives no date, the snapshot's day; never before the end of an earlier interval of the
  same membership);
- an open interval the snapshot no longer lists ends: the person stops counting the day after
  that snapshot (dated by the sync's clock, `listed_at`);
- an open interval still listed records the snapshot as last seen.

Running it twice on the same snapshot changes nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ..warehouse.schema import DATASET

_SNAPSHOTS = f"""SELECT connection_label, max(snap) AS snap FROM (
    SELECT connection_label, COALESCE(listed_at, fetched_at) AS snap FROM {DATASET}.rbac_groups
    UNION ALL SELECT connection_label, COALESCE(listed_at, fetched_at)
    FROM {DATASET}.rbac_group_members
) GROUP BY connection_label"""

_LISTED = f"""EXISTS (SELECT 1 FROM {DATASET}.rbac_group_members g
    WHERE g.connection_label = r.connection_label AND g.rbac_group_id = r.rbac_group_id
      AND g.user_id = r.user_id)"""


def update_membership(cur: Any) -> date | None:
    """Bring `rbac_membership` up to date with the snapshots, in the caller's transaction.
    Returns the first day whose membership changed (None: nothing changed)."""
    changed: list[date] = []
    closed = cur.execute(
        f"""UPDATE {DATASET}.rbac_membership r
        SET valid_to = CAST(s.snap AS DATE) + 1
        FROM ({_SNAPSHOTS}) s
        WHERE r.connection_label = s.connection_label AND r.valid_to IS NULL
          AND s.snap > r.last_seen_at AND NOT {_LISTED}
        RETURNING r.valid_to"""
    ).fetchall()
    changed += [r[0] for r in closed]
    cur.execute(
        f"""UPDATE {DATASET}.rbac_membership r
        SET last_seen_at = s.snap,
            email = (SELECT any_value(g.email) FROM {DATASET}.rbac_group_members g
                     WHERE g.connection_label = r.connection_label
                       AND g.rbac_group_id = r.rbac_group_id AND g.user_id = r.user_id)
        FROM ({_SNAPSHOTS}) s
        WHERE r.connection_label = s.connection_label AND r.valid_to IS NULL
          AND s.snap > r.last_seen_at AND {_LISTED}"""
    )
    opened = cur.execute(
        f"""INSERT INTO {DATASET}.rbac_membership
            (row_key, connection_label, rbac_group_id, user_id, email, valid_from, valid_to,
             last_seen_at)
        SELECT md5(n.connection_label || '|' || n.rbac_group_id || '|' || n.user_id || '|' ||
                   CAST(n.start AS VARCHAR)),
               n.connection_label, n.rbac_group_id, n.user_id, n.email, n.start, NULL, n.snap
        FROM (
            SELECT g.connection_label, g.rbac_group_id, g.user_id, any_value(g.email) AS email,
                   greatest(
                       COALESCE(CAST(min(g.created_at) AS DATE), CAST(any_value(s.snap) AS DATE)),
                       COALESCE((SELECT max(p.valid_to) FROM {DATASET}.rbac_membership p
                                 WHERE p.connection_label = g.connection_label
                                   AND p.rbac_group_id = g.rbac_group_id
                                   AND p.user_id = g.user_id), DATE '1970-01-01')
                   ) AS start,
                   any_value(s.snap) AS snap
            FROM {DATASET}.rbac_group_members g
            JOIN ({_SNAPSHOTS}) s ON s.connection_label = g.connection_label
            WHERE g.user_id IS NOT NULL AND g.rbac_group_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {DATASET}.rbac_membership r
                WHERE r.connection_label = g.connection_label
                  AND r.rbac_group_id = g.rbac_group_id AND r.user_id = g.user_id
                  AND r.valid_to IS NULL)
            GROUP BY g.connection_label, g.rbac_group_id, g.user_id
        ) n
        RETURNING valid_from"""
    ).fetchall()
    changed += [r[0] for r in opened]
    return min(changed) if changed else None
