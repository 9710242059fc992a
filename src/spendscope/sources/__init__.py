"""Feeds: what to fetch for each connection kind, and how each upstream answer becomes rows."""
