"""The one error hierarchy of samd-monitor.

Every error a user can cause is a :class:`MonitorError`; entry points print its
message on one line and exit non-zero, never a traceback. Lower-level errors
(SQLAlchemy, pyarrow, YAML, ...) are translated at the adapter that meets them,
with ``raise ... from exc``::

    MonitorError
    ├── ConfigError            (also ValueError)  a device configuration or setting is wrong
    │   └── MissingSecretError                    a required secret is not in the environment
    ├── InputError             (also ValueError)  a command argument or input file is unusable
    │   └── PeriodError                           a period string cannot be parsed
    │   └── PayloadTooLargeError                  an upload exceeds the configured size limit
    ├── NotFoundError          (also LookupError) a device, run, ticket or report does not exist
    ├── ConflictError                             a state change is not allowed (e.g. closing a ticket
    │                                             without a qualifying analysis, editing a signed report)
    ├── AuthenticationError                       missing, unknown, expired or revoked credentials
    ├── PermissionDeniedError                     the credentials are valid but lack the role or scope
    ├── StorageError                              the database refused or failed
    │   └── SchemaOutOfDateError                  the database needs ``samd-monitor db upgrade``
    ├── ReportError                               a report could not be rendered or written
    └── IntegrityError                            stored evidence fails verification (audit chain,
                                                  archive manifest, signed-report hash)
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConflictError",
    "IntegrityError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "InputError",
    "MissingSecretError",
    "MonitorError",
    "NotFoundError",
    "PeriodError",
    "ReportError",
    "SchemaOutOfDateError",
    "TamperedError",
    "StorageError",
]


class MonitorError(Exception):
    """Base of every error samd-monitor raises on purpose."""


class ConfigError(MonitorError, ValueError):
    """A configuration file or setting is invalid; the message names the field and the file."""


class MissingSecretError(ConfigError):
    """A secret the operation needs (e.g. the patient-id hashing key) is not set."""


class InputError(MonitorError, ValueError):
    """A command argument or input file cannot be used as given."""


class PeriodError(InputError):
    """A reporting period string cannot be parsed."""


class NotFoundError(MonitorError, LookupError):
    """A requested device, analysis run, ticket or report does not exist."""


class StorageError(MonitorError):
    """The database could not be reached or refused an operation."""


class SchemaOutOfDateError(StorageError):
    """The database schema is missing or older than this software."""


class ReportError(MonitorError):
    """A report could not be rendered or written."""


class PayloadTooLargeError(InputError):
    """An upload or file exceeds the configured size limit."""


class ConflictError(MonitorError):
    """The requested state change is not allowed in the current state."""


class AuthenticationError(MonitorError):
    """Credentials are missing, unknown, expired or revoked."""


class PermissionDeniedError(MonitorError):
    """Valid credentials without the role or scope the operation needs."""


class IntegrityError(MonitorError):
    """Stored evidence failed verification; the message names the first broken item."""


class TamperedError(AuthenticationError, IntegrityError):
    """Signed evidence from outside (a site bundle) whose signature does not verify: refused as an
    authentication failure (HTTP 401) and reported as a failed verification (CLI exit status 1)."""
