"""briefing: an Arabic-first morning news briefing service."""

__version__ = "0.1.0"
