"""Seeded random streams and identifiers: every synthetic value derives from the seed and a label,
so the same seed always yields the same world and the same usage."""

from __future__ import annotations

import hashlib
import random

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def seeded_rng(seed: int, *parts: object) -> random.Random:
    """A random stream that depends only on the seed and the given parts."""
    text = ":".join([str(seed), *map(str, parts)])
    digest = hashlib.sha256(text.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def tagged_id(rng: random.Random, prefix: str, length: int = 24) -> str:
    return prefix + "".join(rng.choice(BASE58) for _ in range(length))
