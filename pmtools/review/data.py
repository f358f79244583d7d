"""Reading what the review is built from: both sides' records and the stored state.

IPM's records are the list rows the last Sync Now cached (reading IPM's lists again would take
minutes at 120 requests a minute), with the cards it loaded where still current, and the
records pmtools created in IPM since (from the audit trail, with the fields they were created
with). Before any Sync Now they are listed from IPM.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from pmtools.records import Kind, Record, Side
from pmtools.review.queue import KindRecords

__all__ = ["ipm_records", "load_sources", "with_cards"]


def load_sources(*, store, liscio, ipm, kinds: Iterable[Kind] = tuple(Kind)
                 ) -> list[KindRecords]:
    """The records of both sides and the state of each kind in ``kinds``."""
    kinds = [Kind(k) for k in kinds]
    state = store.state(kinds)
    liscio_records = {k: tuple(liscio.iter_records(k)) for k in kinds}
    accounts: dict[str, str] = {}
    if Kind.CONTACTS in kinds:
        rows = liscio_records.get(Kind.ACCOUNTS) or tuple(liscio.iter_records(Kind.ACCOUNTS))
        accounts = {r.id: r.name for r in rows}
    out = []
    for kind in kinds:
        out.append(KindRecords(kind=kind, liscio=liscio_records[kind],
                               ipm=tuple(ipm_records(kind, store=store, ipm=ipm,
                                                     liscio_records=liscio_records[kind])),
                               state=state, accounts=accounts))
    return out


def ipm_records(kind: Kind, *, store, ipm, liscio_records: Sequence[Record] = ()
                ) -> list[Record]:
    """IPM records of ``kind`` as pmtools last saw them (see the module doc)."""
    rows = list(store.cached_records(kind)) or list(ipm.iter_records(kind))
    by_id = {r.id: r for r in rows}
    for key, (record, _at) in store.cached_details(kind, list(by_id)).items():
        if record.modified_at == by_id[key].modified_at:
            by_id[key] = record
    sources = {r.id: r for r in liscio_records}
    for c in store.changes(op="create", status="confirmed", kind=kind, side=Side.IPM):
        key = c.get("ipm_key")
        if not key or key in by_id:
            continue
        source = sources.get(c.get("liscio_id") or "")
        if source is not None:  # the created record copied its Liscio source
            by_id[key] = replace(source, side=Side.IPM, id=key, archived=False,
                                 account_ids=(), external_id=c.get("external_id"))
        else:
            by_id[key] = Record(side=Side.IPM, kind=kind, id=key, name=c.get("after") or key)
    return list(by_id.values())


def with_cards(source: KindRecords, cards: Iterable[Record]) -> KindRecords:
    """``source`` with IPM records replaced by the same records with their cards loaded."""
    loaded = {r.id: r for r in cards if r.side is Side.IPM and r.kind is source.kind}
    if not loaded:
        return source
    return KindRecords(kind=source.kind, liscio=source.liscio,
                       ipm=tuple(loaded.get(r.id, r) for r in source.ipm), state=source.state,
                       accounts=source.accounts)
