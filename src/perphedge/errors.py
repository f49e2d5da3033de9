"""One exception hierarchy for perphedge.

Every error a user can cause (bad config, missing or bad data, an exchange refusing a request)
derives from :class:`PerphedgeError`. The CLI catches that class once, prints the message on one
line and exits 2. Anything else is a bug and exits 1.
"""

from __future__ import annotations


class PerphedgeError(Exception):
    """Base of all user-facing errors; the message is one clear line."""

    exit_code: int = 2


class ConfigError(PerphedgeError):
    """A config value is wrong. ``path`` is the YAML path, e.g. ``hedge.legs[0].symbol``."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"{path}: {message}" if path else message)


class StrategyError(ConfigError):
    """A hedge policy could not be found, loaded, or returned an invalid target."""


class DataError(PerphedgeError):
    """Market data is missing or invalid."""


class MissingDataError(DataError):
    """A data file does not exist; the message names it and the command that fetches it."""


class DataValidationError(DataError):
    """A data file exists but fails validation (duplicates, NaN, unsorted, corrupt, gaps)."""


class DownloadError(PerphedgeError):
    """The exchange refused a request for a reason retrying cannot fix."""


class CheckFailed(PerphedgeError):
    """A check command (``data check``, ``baseline check``) found problems."""

    exit_code = 3
