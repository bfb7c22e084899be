"""One exception tree, each error carrying a hint a person can act on, and the exit codes
the commands turn them into (documented in README, "Exit codes")."""

from __future__ import annotations

EXIT_OK = 0  # all went well
EXIT_PARTIAL = 1  # some feeds or recipients failed, or another error with its message
EXIT_CONFIG = 2  # the configuration cannot be used
EXIT_NOTHING_SENT = 3  # no subscriber could be reached
EXIT_LOCKED = 4  # another run holds the edition lock


class BriefingError(Exception):
    """Base of every error this package raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message} ({self.hint})" if self.hint else message


class ConfigError(BriefingError):
    """The YAML configuration cannot be used; `problems` lists every finding."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class FeedError(BriefingError):
    """One feed could not be read or parsed; the rest of the edition goes on."""


class StoreError(BriefingError):
    """The database cannot be opened or written."""


class LockedError(BriefingError):
    """Another run holds the edition lock."""


class DeliveryError(BriefingError):
    """A message could not be delivered to one recipient."""


class ModelUnavailableError(BriefingError):
    """The abstractive model cannot be loaded; extractive summaries stand in."""
