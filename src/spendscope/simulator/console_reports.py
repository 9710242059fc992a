"""Placeholder: endpoints registered by this module."""
