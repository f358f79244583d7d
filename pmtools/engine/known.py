"""IPM records as pmtools knows them: the cached list rows, brought up to date (a fetch step).

For View Details, the reports' quick mode, the onboarding review and the audit notebook.

View Details reads no IPM list (at 120 requests a minute that would take minutes on a big
firm): it shows the list rows the last Sync Now cached. Those rows lag behind what pmtools
itself did since, so they are brought up to date from the state file: details loaded by a
sync (addresses are not in IPM's list rows), records read back after an action, records
created in IPM since the last pull (read once each), and every confirmed IPM field write that
is newer than the record shown. Without this a pair just synced shows its old IPM value, and a
record just created in IPM shows as orphaned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pmtools.connectors.base import Connector
from pmtools.core.records import Kind, Record, Side
from pmtools.core.timestamps import is_before
from pmtools.errors import ConnectorError
from pmtools.store import Store

log = logging.getLogger(__name__)


def ipm_view_records(
    kind: Kind, *, store: Store, ipm: Connector, detailed: Iterable[Record] = ()
) -> list[Record]:
    """IPM records of ``kind`` for View Details: cached rows brought up to date (see module).

    ``detailed`` are IPM records fresher than the cache (loaded by the last sync in this
    session, or read back after a link or create); they replace or join the cached rows.
    """
    rows = list(store.cached_records(kind)) or list(ipm.iter_records(kind))
    by_id: dict[str, Record] = {r.id: r for r in rows}
    for key, (record, _loaded_at) in store.cached_details(kind, list(by_id)).items():
        if not is_before(record.modified_at, by_id[key].modified_at):
            by_id[key] = record
    for record in detailed:
        if record.kind is kind and record.side is Side.IPM:
            by_id[record.id] = record
    _add_created(kind, by_id, store=store, ipm=ipm)
    return overlay_writes(
        kind,
        list(by_id.values()),
        store.changes(op="write", status="confirmed", kind=kind, side=Side.IPM),
    )


def overlay_writes(
    kind: Kind, records: list[Record], changes: Iterable[dict[str, Any]]
) -> list[Record]:
    """``records`` with each confirmed IPM write applied where it is newer than the record.

    ``changes`` are audit rows (oldest first). A record modified in IPM after the write keeps
    its own value: someone changed it since.
    """
    by_id = {r.id: r for r in records}
    for c in changes:
        if c.get("side") != str(Side.IPM) or c.get("kind") != str(kind) or not c.get("field"):
            continue
        record = by_id.get(c.get("ipm_key") or "")
        if record is None or not is_before(record.modified_at, c.get("updated_at")):
            continue
        try:
            by_id[record.id] = record.with_fields({c["field"]: c.get("after")})
        except KeyError:  # a field this kind does not sync: nothing to show
            continue
    return [by_id[r.id] for r in records]


def _add_created(kind: Kind, by_id: dict[str, Record], *, store: Store, ipm: Connector) -> None:
    """Read the IPM records created by pmtools since the last pull (not in the cache yet)."""
    linked = {link.ipm_key for link in store.links(kind)}
    created = [
        c["ipm_key"]
        for c in store.changes(op="create", status="confirmed", kind=kind, side=Side.IPM)
    ]
    for key in dict.fromkeys(created):
        if key and key in linked and key not in by_id:
            try:
                by_id[key] = ipm.get_record(kind, key)
            except ConnectorError as exc:  # gone since: the pair shows as orphaned
                log.info(
                    "IPM %s %s created by pmtools could not be read: %s", kind.ipm_name, key, exc
                )
