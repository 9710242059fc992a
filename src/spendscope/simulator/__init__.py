"""A faithful local stand-in for Anthropic's usage, cost, admin and analytics APIs.

See `docs/simulator.md`. Nothing here imports the client side of spendscope.
"""
