"""Plan a sync: records of both sides + stored state -> an ordered :class:`Plan`. Pure.

For each kind in ``policy.kinds`` the actions come in this order, each group in a stable order
(stored links by Liscio id, everything else in input order):

1. LINK: new automatic exact-name matches (:func:`pmtools.core.matching.match`).
2. CREATE_IN_IPM: Liscio records created after the first Sync Now that no IPM record matches.
   The draft carries the synced fields, so the created pair needs no first-sync writes: apply
   stores its link as already first-synced.
3. WRITE: the field rules (:mod:`pmtools.core.rules`) for every live pair: first-sync rules for a
   pair linked in this plan or whose stored link has no ``first_synced_at``, later-sync rules
   otherwise.
4. MARK_SYNCED: a pair's first sync is complete (also when it needed no writes). Not planned
   while a field could not be decided (see SKIP), so the first sync is redone next time.
5. ORPHAN: a linked pair whose Liscio record is archived or gone, or whose IPM record is gone.
   Nothing is deleted anywhere. An orphaned link stays orphaned: its records are never matched
   again, and when they come back a SKIP says so — a person links them again (``pmtools link``,
   which applies a first sync at once). Syncing never resumes silently on a pair someone
   archived.
6. SKIP: nothing done, with the reason (IPM details not loaded, a draft without a name, an
   orphaned pair whose records are back, an address whose country names no country — the
   last applied as a record error; the pair's first sync stays due).
7. AMBIGUOUS, one per record of each tied group (``side`` says which), with the other side's
   candidates; then UNMATCHED Liscio records, then UNMATCHED IPM records.

The same inputs always give the same plan.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import attrgetter

from pmtools.core.countries import UnknownCountry, country_code
from pmtools.core.matching import match, match_records
from pmtools.core.plan import (
    Action,
    Link,
    LinkHow,
    LinkStatus,
    Op,
    Plan,
    SyncPolicy,
    SyncState,
    make_action,
)
from pmtools.core.records import SYNCED_FIELDS, Address, FieldValue, Kind, Record, Side, has_value
from pmtools.core.rulebook import Rule
from pmtools.core.rules import decide
from pmtools.core.text import has_visible_text

__all__ = [
    "DETAIL_FIELDS",
    "details_needed",
    "external_id_for",
    "plan_pair",
    "plan_sync",
    "preflight_problem",
]

# Fields that an IPM record read from a list row may lack (an organization's address lives on
# its business card): planning them needs the record's details.
DETAIL_FIELDS = frozenset({"address"})

_ENTITY = {
    (Kind.ACCOUNTS, Side.IPM): "liscio-account",
    (Kind.CONTACTS, Side.IPM): "liscio-contact",
    (Kind.ACCOUNTS, Side.LISCIO): "ipm-organization",
    (Kind.CONTACTS, Side.LISCIO): "ipm-person",
}


def external_id_for(kind: Kind, target: Side, source_id: str) -> str:
    """The idempotency key of a create on ``target`` from the other side's ``source_id``.

    On IPM it is the record's UserDefinedIdentifier ("liscio-account-<id>"); on Liscio its
    external id ("ipm-person-<key>"). The same source always gives the same key, so a create
    whose reply was lost is found again instead of made twice.
    """
    return f"{_ENTITY[(kind, target)]}-{source_id}"


def preflight_problem(
    *, liscio_counts: Mapping[Kind, int], ipm_counts: Mapping[Kind, int], policy: SyncPolicy
) -> str | None:
    """Why the first Sync Now must not run yet, or None when it may (or ``policy.force``).

    Refuses when, for a synced kind of which IPM holds records, Liscio holds none or fewer
    than ``policy.preflight_min_ratio`` times IPM's count. A kind of which IPM holds no records
    is no risk (there is nothing in IPM to duplicate): the message names only the kinds at risk.
    """
    if policy.force:
        return None
    problems = []
    for kind in policy.kinds:
        have, ipm_have = liscio_counts.get(kind, 0), ipm_counts.get(kind, 0)
        if ipm_have and (have == 0 or have < policy.preflight_min_ratio * ipm_have):
            problems.append(f"Liscio holds {have:,} {kind} and IPM {ipm_have:,} {kind.ipm_name}")
    if not problems:
        return None
    return (
        "Refusing the first sync: " + "; ".join(problems) + f" (Liscio needs at least "
        f"{policy.preflight_min_ratio:.0%} of IPM's count, and at least one record). Syncing "
        "before the firm's client data is in Liscio creates duplicates: the first sync records "
        "which Liscio records exist, and every record added to Liscio afterwards counts as new "
        "and is created in IPM unless its name matches an IPM record exactly — so a client "
        "already in IPM under a slightly different name is created a second time. Upload the "
        "client data to Liscio first, or override this check (`pmtools sync --force`, or the "
        "override in the app) if these counts are right."
    )


def plan_pair(kind: Kind, liscio: Record, ipm: Record, *, first_sync: bool) -> tuple[Action, ...]:
    """The field actions for one linked pair: WRITEs, SKIPs, and MARK_SYNCED on a first sync.

    Used for a manual link, Create in Liscio and Create in IPM, which apply the first sync at
    once. MARK_SYNCED is left out while a field could not be decided (IPM details not loaded).
    """
    writes: list[Action] = []
    skips: list[Action] = []
    marks: list[Action] = []
    _pair_actions(kind, _FIELD_SPECS[kind], liscio, ipm, first_sync, writes, marks, skips)
    return (*writes, *skips, *marks)


def details_needed(
    *,
    kind: Kind,
    liscio: Sequence[Record],
    ipm: Sequence[Record],
    state: SyncState,
    policy: SyncPolicy,
) -> frozenset[str]:
    """IPM keys whose details must be loaded before :func:`plan_sync` can plan every field.

    Only IPM records lacking details (``details_complete`` False) in a live pair — a stored link
    or a new automatic match — where a detail field's decision depends on IPM's value: every
    first sync, and a later sync only when Liscio has a value (Liscio empty: nothing to do). Each
    card read is a rate-limited request, so nothing else is asked for.
    """
    if kind not in policy.kinds or not DETAIL_FIELDS.intersection(kind.fields):
        return frozenset()
    fields = DETAIL_FIELDS.intersection(kind.fields)
    needed = set()
    for liscio_record, ipm_record, first_sync in _live_pairs(kind, liscio, ipm, state):
        if ipm_record.details_complete:
            continue
        if first_sync or any(has_value(liscio_record.get(f)) for f in fields):
            needed.add(ipm_record.id)
    return frozenset(needed)


def plan_sync(
    *,
    liscio: Mapping[Kind, Sequence[Record]],
    ipm: Mapping[Kind, Sequence[Record]],
    state: SyncState,
    policy: SyncPolicy,
) -> Plan:
    """Plan a Sync Now for every kind in ``policy.kinds`` (see the module doc for the order).

    ``liscio`` and ``ipm`` must hold every record of each kind (archived Liscio records
    included): a linked record missing from them is taken as gone and its link orphaned.
    """
    actions: list[Action] = []
    with _cyclic_gc_paused():
        for kind in policy.kinds:
            actions.extend(_plan_kind(kind, liscio.get(kind, ()), ipm.get(kind, ()), state, policy))
    return Plan(actions=tuple(actions), policy=policy, first_sync=state.baseline is None)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector while a plan is built; restore it after.

    Planning builds ~10^6 objects (actions, tuples, dicts) and no reference cycles, so
    reference counting frees all its garbage. The cyclic collector would still run a full pass
    over the whole heap (every record of both sides) each time the heap grew by a quarter: four
    passes of ~0.5 s at 100,000 organizations, a quarter of the planning time, collecting
    nothing. Mercurial pauses it the same way (``util.nogc``) while building large structures.
    Another thread planning at the same time at worst re-enables it early (only slower).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _plan_kind(
    kind: Kind,
    liscio: Sequence[Record],
    ipm: Sequence[Record],
    state: SyncState,
    policy: SyncPolicy,
) -> list[Action]:
    liscio_by_id = _by_id(liscio)
    ipm_by_key = _by_id(ipm)
    spec = _FIELD_SPECS[kind]
    links: list[Action] = []
    creates: list[Action] = []
    writes: list[Action] = []
    marks: list[Action] = []
    orphans: list[Action] = []
    skips: list[Action] = []

    for link in _stored_links(kind, state):
        liscio_record = liscio_by_id.get(link.liscio_id)
        ipm_record = ipm_by_key.get(link.ipm_key)
        if link.status is LinkStatus.ORPHANED:
            if _orphan_reason(liscio_record, ipm_record) is None:
                skips.append(
                    Action(
                        op=Op.SKIP,
                        kind=kind,
                        liscio_id=link.liscio_id,
                        ipm_key=link.ipm_key,
                        rule=Rule.SKIP_ORPHANED_BACK,
                        reason="orphaned link whose records both exist again; link them again to "
                        "resume syncing",
                    )
                )
            continue
        problem = _orphan_reason(liscio_record, ipm_record)
        if problem is not None or liscio_record is None or ipm_record is None:
            assert problem is not None  # a missing record is an orphan reason
            rule, reason = problem
            orphans.append(
                Action(
                    op=Op.ORPHAN,
                    kind=kind,
                    liscio_id=link.liscio_id,
                    ipm_key=link.ipm_key,
                    rule=rule,
                    reason=reason,
                )
            )
            continue
        _pair_actions(
            kind,
            spec,
            liscio_record,
            ipm_record,
            link.first_synced_at is None,
            writes,
            marks,
            skips,
        )

    result = match_records(
        kind, liscio, ipm, state, liscio_by_id=liscio_by_id, ipm_by_id=ipm_by_key
    )
    for liscio_id, ipm_key, level in result.pairs:
        links.append(
            make_action(
                Op.LINK, kind, liscio_id, ipm_key, None, None, None, None, level, LinkHow.AUTOMATIC
            )
        )
        _pair_actions(
            kind, spec, liscio_by_id[liscio_id], ipm_by_key[ipm_key], True, writes, marks, skips
        )

    unmatched: list[Action] = []
    creatable = _creatable(kind, state, policy)
    for liscio_id in result.unmatched_liscio:
        record = liscio_by_id[liscio_id]
        if creatable(record):
            missing = _missing_name(record)
            bad_country = (
                _country_problem(record.address, record)
                if isinstance(record.address, Address)
                else None
            )
            if missing is None and bad_country is not None:  # as apply would refuse it
                skips.append(
                    Action(
                        op=Op.SKIP,
                        kind=kind,
                        liscio_id=liscio_id,
                        side=Side.IPM,
                        field="address",
                        rule=Rule.SKIP_UNKNOWN_COUNTRY,
                        reason=f"not created in IPM: {bad_country}",
                    )
                )
            elif missing is None:
                creates.append(
                    Action(
                        op=Op.CREATE_IN_IPM,
                        kind=kind,
                        liscio_id=liscio_id,
                        side=Side.IPM,
                        how=LinkHow.CREATED,
                        record=record,
                        rule=Rule.NEW_LISCIO_RECORD,
                        external_id=external_id_for(kind, Side.IPM, liscio_id),
                        reason="created in Liscio after the first sync; no IPM record has its name",
                    )
                )
                continue
            else:
                skips.append(
                    Action(
                        op=Op.SKIP,
                        kind=kind,
                        liscio_id=liscio_id,
                        side=Side.IPM,
                        rule=Rule.SKIP_NO_NAME,
                        reason=missing,
                    )
                )
        unmatched.append(
            Action(
                op=Op.UNMATCHED,
                kind=kind,
                liscio_id=liscio_id,
                side=Side.LISCIO,
                reason="no IPM record has this name",
            )
        )
    for ipm_key in result.unmatched_ipm:
        unmatched.append(
            Action(
                op=Op.UNMATCHED,
                kind=kind,
                ipm_key=ipm_key,
                side=Side.IPM,
                reason="no Liscio record has this name",
            )
        )

    ambiguous: list[Action] = []
    for group in result.ambiguous:
        reason = (
            f"{len(group.liscio_ids)} Liscio and {len(group.ipm_keys)} IPM records share "
            f"the name {group.key!r}; a person chooses"
        )
        ambiguous.extend(
            Action(
                op=Op.AMBIGUOUS,
                kind=kind,
                liscio_id=lid,
                side=Side.LISCIO,
                candidates=group.ipm_keys,
                rule=group.level,
                reason=reason,
            )
            for lid in group.liscio_ids
        )
        ambiguous.extend(
            Action(
                op=Op.AMBIGUOUS,
                kind=kind,
                ipm_key=key,
                side=Side.IPM,
                candidates=group.liscio_ids,
                rule=group.level,
                reason=reason,
            )
            for key in group.ipm_keys
        )

    return [*links, *creates, *writes, *marks, *orphans, *skips, *ambiguous, *unmatched]


def _stored_links(kind: Kind, state: SyncState) -> list[Link]:
    return sorted(
        (link for link in state.links if link.kind is kind),
        key=lambda link: (link.liscio_id, link.ipm_key),
    )


def _live_pairs(
    kind: Kind, liscio: Sequence[Record], ipm: Sequence[Record], state: SyncState
) -> Iterator[tuple[Record, Record, bool]]:
    """Every pair :func:`plan_sync` plans fields for: (Liscio, IPM, first sync due)."""
    liscio_by_id = _by_id(liscio)
    ipm_by_key = _by_id(ipm)
    for link in _stored_links(kind, state):
        if link.status is not LinkStatus.LINKED:
            continue
        liscio_record = liscio_by_id.get(link.liscio_id)
        ipm_record = ipm_by_key.get(link.ipm_key)
        if (
            liscio_record is not None
            and ipm_record is not None
            and _orphan_reason(liscio_record, ipm_record) is None
        ):
            yield liscio_record, ipm_record, link.first_synced_at is None
    for pair in match(kind, liscio, ipm, state).pairs:
        yield liscio_by_id[pair.liscio_id], ipm_by_key[pair.ipm_key], True


def _by_id(records: Sequence[Record]) -> dict[str, Record]:
    """Records by id (the last one of an id listed twice), built in C."""
    return dict(zip(map(_ID, records), records))


_ID = attrgetter("id")


def _orphan_reason(liscio: Record | None, ipm: Record | None) -> tuple[str, str] | None:
    if liscio is None:
        return Rule.ORPHAN_LISCIO_MISSING, "the Liscio record is gone"
    if liscio.archived:
        return Rule.ORPHAN_LISCIO_ARCHIVED, "the Liscio record was archived"
    if ipm is None:
        return Rule.ORPHAN_IPM_MISSING, "the IPM record is gone"
    if ipm.archived:
        return Rule.ORPHAN_IPM_ARCHIVED, "the IPM record was archived"
    return None


def _pair_actions(
    kind: Kind,
    spec: _FieldSpec,
    liscio: Record,
    ipm: Record,
    first_sync: bool,
    writes: list[Action],
    marks: list[Action],
    skips: list[Action],
) -> None:
    """Append one pair's WRITEs, SKIPs and (first sync, all decided) MARK_SYNCED."""
    # Runs for every pair (~350,000 at 100,000 organizations): the fields' values are read in
    # one call, and a field with equal raw values is decided here without a call. ``spec`` is
    # looked up once per kind, by the caller.
    undecided = False
    liscio_id, ipm_key = liscio.id, ipm.id
    fields, values = spec
    liscio_values, ipm_values = values(liscio), values(ipm)
    if liscio_values != ipm_values or not ipm.details_complete:
        details_missing = not ipm.details_complete
        for field, liscio_value, ipm_value in zip(fields, liscio_values, ipm_values):
            if details_missing and field in DETAIL_FIELDS:
                if first_sync or has_value(liscio_value):
                    undecided = True
                    skips.append(
                        Action(
                            op=Op.SKIP,
                            kind=kind,
                            liscio_id=liscio_id,
                            ipm_key=ipm_key,
                            side=Side.IPM,
                            field=field,
                            rule=Rule.SKIP_DETAILS_NOT_LOADED,
                            reason=f"the IPM record's {field} (on its business card) was not "
                            "loaded",
                        )
                    )
                continue
            if liscio_value == ipm_value:
                continue
            decision = decide(field, liscio_value, ipm_value, first_sync)
            if decision is not None:
                side, before, after, rule = decision
                if field == "address" and isinstance(after, Address):
                    problem = _country_problem(after, liscio if side is Side.IPM else ipm)
                    if problem is not None:  # nothing of that address is written
                        undecided = True
                        skips.append(
                            Action(
                                op=Op.SKIP,
                                kind=kind,
                                liscio_id=liscio_id,
                                ipm_key=ipm_key,
                                side=side,
                                field=field,
                                before=before,
                                after=after,
                                rule=Rule.SKIP_UNKNOWN_COUNTRY,
                                reason=problem,
                            )
                        )
                        continue
                writes.append(
                    make_action(
                        Op.WRITE, kind, liscio_id, ipm_key, side, field, before, after, rule, None
                    )
                )
    if first_sync and not undecided:
        marks.append(
            make_action(
                Op.MARK_SYNCED,
                kind,
                liscio_id,
                ipm_key,
                None,
                None,
                None,
                None,
                Rule.FIRST_SYNC_DONE,
                None,
            )
        )


def _country_problem(address: Address, source: Record) -> str | None:
    """Why ``address`` (``source``'s) cannot be written: its country names no country."""
    try:
        country_code(address.country)
    except UnknownCountry:
        system = "Liscio" if source.side is Side.LISCIO else "IPM"
        return (
            f"the address of {source.name!r} has the country {address.country!r}, which "
            f"is not a country pmtools knows; correct it in {system} and sync again"
        )
    return None


def _values_getter(fields: tuple[str, ...]) -> Callable[[Record], tuple[FieldValue, ...]]:
    """A record's values of ``fields`` as one tuple (attrgetter of one name gives no tuple)."""
    if len(fields) == 1:
        return lambda record: (getattr(record, fields[0]),)
    return attrgetter(*fields)


_FieldSpec = tuple[tuple[str, ...], Callable[[Record], tuple[FieldValue, ...]]]

# Each kind's synced fields, and a getter of a record's values of them as one tuple.
_FIELD_SPECS: dict[Kind, _FieldSpec] = {
    kind: (fields, _values_getter(fields)) for kind, fields in SYNCED_FIELDS.items()
}


def _creatable(kind: Kind, state: SyncState, policy: SyncPolicy) -> Callable[[Record], bool]:
    """A test: is this unmatched Liscio record new since the baseline, and never decided on?"""
    baseline = state.baseline
    if baseline is None or not policy.create_new_in_ipm:
        return lambda record: False
    decided = {d.liscio_id for d in state.decisions if d.kind is kind}

    def creatable(record: Record) -> bool:
        return (kind, record.id) not in baseline and record.id not in decided

    return creatable


def _missing_name(record: Record) -> str | None:
    """Why an IPM record cannot be created from this draft, or None."""
    # A name of only zero-width or other invisible characters is no name (it shows nothing).
    if record.kind is Kind.CONTACTS:
        if not has_visible_text(record.first_name) or not has_visible_text(record.last_name):
            return "IPM needs a first and a last name to create a person"
    elif not has_visible_text(record.name):
        return "IPM needs a name to create an organization"
    return None
