"""pmtools: keep Liscio and Intuit Practice Management (Karbon) client records in sync.

Importing pmtools has no side effects: no network, no files, no display.
"""

from pmtools.core.names import normalize_name
from pmtools.core.records import Address, Kind, Record, Side
from pmtools.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    DuplicateCreate,
    LockHeld,
    MalformedReply,
    NotFound,
    PmtoolsError,
    PreflightRefused,
    RecordError,
    ServiceError,
    StateError,
)

__all__ = [
    "Address",
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "DuplicateCreate",
    "Kind",
    "LockHeld",
    "MalformedReply",
    "NotFound",
    "PmtoolsError",
    "PreflightRefused",
    "Record",
    "RecordError",
    "ServiceError",
    "Side",
    "StateError",
    "normalize_name",
]
