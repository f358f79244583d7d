"""The tenant guard: a state file belongs to one Liscio firm and one IPM tenant.

The state file's links, baseline and IPM cache name records by their ids in two particular
firms. Pointed at another firm (a changed ``PMTOOLS_LISCIO_URL``, a token of another tenant),
the same ids would write one firm's values onto another firm's records. So the first command
that binds the state file to the services (the first Sync Now, a first manual link) records
both identities — the IPM ``TenantKey`` from TenantSettings and the Liscio firm from
``GET /v1/firm`` — and :func:`check_tenant` compares them before every later command reads the
cache or plans anything. A mismatch raises :class:`TenantMismatch` (exit 2) and nothing is read
or written; ``pmtools disconnect --yes`` forgets the identities with the links, to start over.

:func:`check_tenant` runs in one place for the CLI (:func:`connect_checked`, which every command
that talks to a service uses) and before every workbench action (``Session.lock``). A state file
written before identities were recorded cannot be checked: its identities are recorded by the
next command, with a warning in the log.
"""

from __future__ import annotations

import logging

from pmtools.config import Settings
from pmtools.connectors.base import Connector
from pmtools.connectors.factory import connect
from pmtools.core.records import Identity, Side
from pmtools.errors import TenantMismatch
from pmtools.store import Store

log = logging.getLogger(__name__)

_SETTING = {
    Side.LISCIO: "PMTOOLS_LISCIO_URL and PMTOOLS_LISCIO_TOKEN",
    Side.IPM: "PMTOOLS_IPM_URL and the IPM keys",
}


def check_tenant(store: Store, *, liscio: Connector, ipm: Connector) -> dict[Side, Identity]:
    """Refuse (TenantMismatch) unless both services are the firm ``store`` belongs to.

    Asks each service who it is (one request each). A state file bound to no firm yet is
    bound by its first link or baseline (see :meth:`Store.bind`); an older state file that
    has links but no identities gets them recorded now, with a warning. Returns what was found.
    """
    found = {Side.LISCIO: liscio.identity(), Side.IPM: ipm.identity()}
    recorded = store.identities()
    if recorded:
        wrong = [side for side, who in recorded.items() if who.id != found[side].id]
        if wrong:
            raise TenantMismatch(_mismatch(recorded, found, wrong), recorded=recorded, found=found)
    elif store.connection() is not None:
        store.record_identities(liscio=found[Side.LISCIO], ipm=found[Side.IPM])
        log.warning(
            "the state %s did not record which firm it belongs to (it was written "
            "by an older pmtools), so this could not be checked: it now belongs to %s "
            "and %s",
            store.location,
            found[Side.LISCIO],
            found[Side.IPM],
        )
    store.bind(liscio=found[Side.LISCIO], ipm=found[Side.IPM])
    return found


def connect_checked(settings: Settings, store: Store | None) -> tuple[Connector, Connector]:
    """Both connectors for ``settings``, checked against the firm ``store`` belongs to
    (TenantMismatch otherwise, the connectors closed); no check without a state file."""
    liscio, ipm = connect(settings)
    if store is not None:
        try:
            check_tenant(store, liscio=liscio, ipm=ipm)
        except BaseException:
            liscio.close()
            ipm.close()
            raise
    return liscio, ipm


def _mismatch(
    recorded: dict[Side, Identity], found: dict[Side, Identity], wrong: list[Side]
) -> str:
    was = " and ".join(str(recorded[side]) for side in (Side.LISCIO, Side.IPM) if side in recorded)
    now = " and ".join(f"{_SETTING[side]} now reach {found[side]}" for side in wrong)
    return (
        f"this state file belongs to {was}, but {now}; nothing was read or written — "
        f"point the settings back at that firm, use another state file (--state) for "
        f"this one, or start over with `pmtools disconnect --yes`"
    )


__all__ = ["TenantMismatch", "check_tenant", "connect_checked"]
