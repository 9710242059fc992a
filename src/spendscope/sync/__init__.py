"""The sync: the engine that fetches windows and writes them, and the runs built on it."""
