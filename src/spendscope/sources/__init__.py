"""Feeds: what to fetch for each connection kind, and the engine that syncs them."""
