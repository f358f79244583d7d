"""The errors pmtools raises, classified where they are raised.

::

    PmtoolsError
    ├── ConfigError            bad flags, environment or files: exit 2
    │   └── TenantMismatch     the services are not the firm the state file belongs to
    ├── PreflightRefused       the duplicate guard refused a first sync: exit 3
    │   └── DuplicateRisk      a create refused: likely duplicates exist (exit 3)
    ├── PlanChanged            Apply after a preview: the data changed, the plan differs
    ├── LockHeld               another sync holds the state file's lock: exit 4
    ├── StateError             the state file is unreadable, unwritable (disk full,
    │   │                      read-only) or from a newer pmtools: exit 5
    │   └── StateLost          the state file kept here is missing, empty or replaced
    └── ConnectorError         anything from a connector; ``side`` says which system
        ├── AuthError          credentials rejected (401/403): stop the run
        ├── ServiceError       the service is down or retries ran out: stop, resume later
        │   └── MalformedReply a reply broke the contract (shape, size, time, endless
        │                      paging): stop, nothing written from it; exit 5
        ├── RecordError        one record was rejected (400/4003, 409 after retries, …):
        │                      recorded, and the run goes on with the others
        │   └── NotFound       the record is gone (404/4004)
        └── DuplicateCreate    a create's external id is already in use (Karbon 500/5001)

Messages never carry secrets: connectors build them from redacted URLs and API error texts.
Any other exception is a bug: the CLI exits 6 with one line (``-v`` shows the traceback) and
the run it interrupted is marked ``failed``.
"""

from __future__ import annotations

from typing import Any


class PmtoolsError(Exception):
    """Base of every error pmtools raises on purpose."""


class ConfigError(PmtoolsError):
    """Flags, environment or a file are wrong; the message says how to fix it."""


class TenantMismatch(ConfigError):
    """The services are not the firm this state file belongs to; nothing was written.

    ``recorded`` and ``found`` map each side to its identity (see :mod:`pmtools.engine.tenant`).
    """

    def __init__(self, message: str, *, recorded: dict[Any, Any], found: dict[Any, Any]) -> None:
        super().__init__(message)
        self.recorded = recorded
        self.found = found


class PreflightRefused(PmtoolsError):
    """The first Sync Now was refused because it would create duplicates."""


class DuplicateRisk(PreflightRefused):
    """A create was refused: the other side likely holds the record already.

    ``candidates`` are the likely duplicates (:class:`pmtools.review.Duplicate`); pass
    ``anyway=True`` to create regardless.
    """

    def __init__(self, message: str, *, candidates: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.candidates = tuple(candidates)


class PlanChanged(PmtoolsError):
    """Applying a previewed plan was refused: planned again, it is no longer the same.

    ``plan`` is the new plan, to be shown for a new confirmation; ``records`` the records it
    was planned from (to name them). Nothing was written.
    """

    def __init__(self, message: str, *, plan: object, records: object = None) -> None:
        super().__init__(message)
        self.plan = plan
        self.records = records


class LockHeld(PmtoolsError):
    """Another process is syncing the same state file."""


class StateError(PmtoolsError):
    """The state file cannot be used (corrupt, or written by a newer pmtools)."""


class StateLost(StateError):
    """The state file that was kept here is missing, empty or replaced; nothing was written."""


class ConnectorError(PmtoolsError):
    """A call to Liscio or IPM failed."""

    def __init__(
        self, message: str, *, side: str = "", status: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.side = side
        self.status = status
        self.code = code


class AuthError(ConnectorError):
    """The credentials were rejected."""


class ServiceError(ConnectorError):
    """The service failed as a whole (5xx or timeouts after retries, connection refused)."""


class MalformedReply(ServiceError):
    """A reply could not be used as a whole: not the expected shape, too large, too slow, or
    paging without end. The message names the endpoint by its path."""


class RecordError(ConnectorError):
    """One record's request was rejected; other records can go on."""


class NotFound(RecordError):
    """The record does not exist (any more)."""


class DuplicateCreate(ConnectorError):
    """A create was refused because its external id is already in use."""
