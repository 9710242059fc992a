"""spendscope: self-hosted spend analytics for Anthropic organizations."""

__version__ = "0.1.0"
