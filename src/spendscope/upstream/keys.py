"""What a key's prefix says it is: the kinds of Anthropic keys and how to name them."""

from __future__ import annotations

PREFIXES = (
    ("sk-ant-admin01-", "admin"),
    ("sk-ant-api01-", "analytics"),
    ("sk-ant-api03-", "standard"),
    ("sk-ant-oat01-", "oauth"),
)
KIND_NAMES = {
    "admin": "a Claude Console Admin API key (sk-ant-admin01-…)",
    "analytics": "a Claude Enterprise analytics key (sk-ant-api01-…)",
    "standard": "a standard API key (sk-ant-api03-…)",
    "oauth": "an OAuth access token (sk-ant-oat01-…)",
}


def classify_key(key: str) -> str:
    """`admin`, `analytics`, `standard`, `oauth` or `unknown`, from the key's prefix."""
    key = key.strip()
    for prefix, kind in PREFIXES:
        if key.startswith(prefix):
            return kind
    return "unknown"
