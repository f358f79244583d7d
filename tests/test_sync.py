"""Sync Now scenarios on the in-memory fakes: the seed's rules as both systems end up."""

import threading

import pytest
from fakes import FakeLiscio, Faults, one, small_firm

from pmtools.core.plan import COUNT_KEYS, LinkHow, LinkStatus, Op, SyncPolicy
from pmtools.core.records import Address, Kind
from pmtools.engine.fetch import OVERLAP
from pmtools.engine.sync import STAGES, run_sync
from pmtools.errors import PlanChanged, PreflightRefused, ServiceError
from pmtools.store import Store

A, C = Kind.ACCOUNTS, Kind.CONTACTS


def sync(liscio, ipm, store, **kwargs):
    policy = kwargs.pop("policy", SyncPolicy())
    return run_sync(liscio=liscio, ipm=ipm, store=store, policy=policy, **kwargs)


def linked_names(store, liscio, ipm, kind):
    return {
        (liscio.records[kind][link.liscio_id].name, ipm.records[kind][link.ipm_key].name)
        for link in store.links(kind)
        if link.status is LinkStatus.LINKED
    }


def test_first_sync_links_exact_names_and_applies_first_sync_rules(store):
    liscio, ipm = small_firm()
    result = sync(liscio, ipm, store)
    assert result.outcome == "done" and list(result.counts) == list(COUNT_KEYS)
    assert linked_names(store, liscio, ipm, A) == {
        ("Acme LLC", "ACME LLC"),
        ("Birch & Co", "Birch & Co"),
    }
    assert linked_names(store, liscio, ipm, C) == {("Ann Lee", "Lee, Ann")}
    # both sides differ: Liscio's overwrites IPM's; one side only: fills the other
    assert one(ipm, A, "ACME LLC").phone == "555-0100"
    assert one(liscio, A, "Acme LLC").address == Address(line1="1 Main St", city="Troy")
    assert one(ipm, A, "Birch & Co").website == "birch.example"
    assert one(ipm, C, "Lee, Ann").title == "CFO"
    assert one(liscio, C, "Ann Lee").email == "ann@acme.example"
    # names are never written; unmatched baseline records are not mass-created
    assert one(ipm, A, "ACME LLC").name == "ACME LLC"
    assert not ipm.by_name(A, "Cedar Ltd") and not liscio.by_name(A, "Delta Inc")
    assert result.counts == {
        "linked": 3,
        "created_in_ipm": 0,
        "created_in_liscio": 0,
        "ipm_fields_written": 3,
        "liscio_fields_filled": 2,
        "unmatched_liscio": 2,
        "unmatched_ipm": 2,
        "ambiguous": 0,
        "orphaned": 0,
        "errors": 0,
    }
    assert all(link.first_synced_at for link in store.links())
    assert store.baseline() == {(k, r.id) for k in Kind for r in liscio.records[k].values()}
    run = store.run(result.run_id)
    assert run["outcome"] == "done" and run["started_by"] == "cli"
    assert run["counts"] == result.counts
    # every write is in the audit trail with before and after, confirmed
    writes = store.changes(run_id=result.run_id, op="write")
    assert len(writes) == 5 and {w["status"] for w in writes} == {"confirmed"}
    phone = next(w for w in writes if w["field"] == "phone")
    assert (phone["before"], phone["after"], phone["side"]) == ("555-0199", "555-0100", "ipm")
    assert phone["liscio_name"] == "Acme LLC" and phone["ipm_name"] == "ACME LLC"
    assert phone["rule"]


def test_second_sync_with_no_edits_writes_nothing(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    before = (liscio.snapshot(), ipm.snapshot(), len(ipm.field_writes), len(liscio.creates))
    result = sync(liscio, ipm, store)
    assert not [a for a in result.plan.writes() if a.op is not Op.MARK_SYNCED]
    assert (liscio.snapshot(), ipm.snapshot(), len(ipm.field_writes), len(liscio.creates)) == before


def test_later_sync_rules(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    acme, birch = one(liscio, A, "Acme LLC"), one(ipm, A, "Birch & Co")
    liscio.edit(A, acme.id, phone="555-0111")  # Liscio edit: goes to IPM
    ipm.edit(A, birch.id, website="other.example")  # IPM edit, Liscio set: overwritten
    ipm.edit(A, one(ipm, A, "ACME LLC").id, website="acme.example")  # Liscio empty: stays
    ipm.edit(C, one(ipm, C, "Lee, Ann").id, email="")  # emptied in IPM: Liscio's comes back
    liscio_before = liscio.snapshot()
    result = sync(liscio, ipm, store)
    assert one(ipm, A, "ACME LLC").phone == "555-0111"
    assert one(ipm, A, "Birch & Co").website == "birch.example"
    assert one(ipm, A, "ACME LLC").website == "acme.example"
    assert one(liscio, A, "Acme LLC").website is None
    assert one(ipm, C, "Lee, Ann").email == "ann@acme.example"
    assert liscio.snapshot() == liscio_before  # nothing is written to Liscio after a first sync
    assert result.counts["ipm_fields_written"] == 3
    assert result.counts["liscio_fields_filled"] == 0


def test_new_liscio_records_are_linked_or_created_in_ipm(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    liscio.add(A, "Elm Partners", phone="555-0500", website="elm.example")
    # an account owner adds a contact whose person already exists in IPM: linked, not created
    liscio.add(
        C,
        "Cy Young",
        first_name="Cy",
        last_name="Young",
        email="cy@elm.example",
        created_by="account_owner",
    )
    # an account owner adds a contact nobody has in IPM: created there and linked
    dee = liscio.add(
        C,
        "Dee Park",
        first_name="Dee",
        last_name="Park",
        title="Owner",
        email="dee@elm.example",
        created_by="account_owner",
    )
    result = sync(liscio, ipm, store)
    made = one(ipm, C, "Dee Park")
    assert (made.first_name, made.last_name, made.title, made.email) == (
        "Dee",
        "Park",
        "Owner",
        "dee@elm.example",
    )
    assert store.link_for(C, liscio_id=dee.id).ipm_key == made.id
    elm = one(ipm, A, "Elm Partners")
    assert (elm.phone, elm.website) == ("555-0500", "elm.example") and elm.external_id
    assert len(ipm.by_name(C, "Cy Young")) == 1
    assert ("Cy Young", "Cy Young") in linked_names(store, liscio, ipm, C)
    assert one(ipm, C, "Cy Young").email == "cy@elm.example"
    assert one(liscio, C, "Cy Young").title == "Owner"  # the new pair's first sync fills Liscio
    link = store.link_for(A, ipm_key=elm.id)
    assert link.how is LinkHow.CREATED and link.first_synced_at
    assert result.counts["created_in_ipm"] == 2 and result.counts["linked"] == 1
    # baseline records that stayed unmatched are still not created
    assert not ipm.by_name(A, "Cedar Ltd") and not ipm.by_name(C, "Bob Stone")
    again = sync(liscio, ipm, store)
    assert again.counts["created_in_ipm"] == 0 and len(ipm.by_name(A, "Elm Partners")) == 1


def test_ipm_created_records_show_up_unmatched(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    ipm.add(A, "Fir Group", phone="555-0600")
    result = sync(liscio, ipm, store)
    unmatched = {a.ipm_key for a in result.plan.actions if a.op is Op.UNMATCHED and a.ipm_key}
    assert one(ipm, A, "Fir Group").id in unmatched
    assert not liscio.by_name(A, "Fir Group")  # created in Liscio only when a person asks


def test_archived_liscio_record_orphans_its_link_and_deletes_nothing(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    acme = one(liscio, A, "Acme LLC")
    liscio.edit(A, acme.id, archived=True)
    result = sync(liscio, ipm, store)
    assert store.link_for(A, liscio_id=acme.id).status is LinkStatus.ORPHANED
    assert result.counts["orphaned"] == 1
    assert ipm.by_name(A, "ACME LLC") and acme.id in liscio.records[A]
    assert [c["op"] for c in store.changes(run_id=result.run_id)] == ["orphan"]


def test_ipm_record_gone_orphans_its_link_on_a_full_pull(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    ann = one(ipm, C, "Lee, Ann")
    ipm.remove(C, ann.id)
    sync(liscio, ipm, store, full=True)
    assert store.link_for(C, ipm_key=ann.id).status is LinkStatus.ORPHANED


def test_preflight_refuses_a_first_sync_into_an_empty_liscio(store):
    liscio, ipm = FakeLiscio(), small_firm()[1]
    with pytest.raises(PreflightRefused, match="duplicate"):
        sync(liscio, ipm, store)
    assert store.runs()[-1]["outcome"] == "refused" and store.baseline() is None
    assert ipm.field_writes == [] and ipm.creates == []
    result = sync(liscio, ipm, store, policy=SyncPolicy(force=True))
    assert result.outcome == "done" and store.baseline() is not None


def test_preflight_lets_a_kind_that_ipm_does_not_hold_through(store):
    # Issue 11: Liscio 0 contacts and IPM 0 people is no risk of duplicates.
    liscio, ipm = small_firm()
    for rec in list(liscio.records[C].values()):
        liscio.remove(C, rec.id)
    for rec in list(ipm.records[C].values()):
        ipm.remove(C, rec.id)
    result = sync(liscio, ipm, store)
    assert result.outcome == "done" and store.baseline() is not None
    assert one(ipm, A, "ACME LLC").phone == "555-0100"


def test_record_error_is_recorded_and_the_run_goes_on(store):
    liscio, ipm = small_firm()
    acme = one(ipm, A, "ACME LLC")
    ipm.reject.add(acme.id)
    result = sync(liscio, ipm, store)
    assert result.outcome == "done_with_errors" and result.counts["errors"] == 1
    (error,) = store.errors(run_id=result.run_id)
    assert error["ipm_key"] == acme.id and "rejected" in error["message"]
    failed = store.changes(run_id=result.run_id, status="failed")
    assert [c["field"] for c in failed] == ["phone"]
    assert one(ipm, C, "Lee, Ann").title == "CFO"  # the others went on
    assert store.link_for(A, ipm_key=acme.id).first_synced_at is None  # not marked synced
    ipm.reject.clear()
    again = sync(liscio, ipm, store)
    assert again.outcome == "done" and one(ipm, A, "ACME LLC").phone == "555-0100"
    assert store.link_for(A, ipm_key=acme.id).first_synced_at


def test_service_error_stops_the_run_and_the_next_run_resumes(store):
    liscio, ipm = small_firm()
    faults = Faults(fail_at=2)
    liscio.faults = ipm.faults = faults
    with pytest.raises(ServiceError):
        sync(liscio, ipm, store)
    stopped = store.runs()[-1]
    assert stopped["outcome"] == "stopped" and "unavailable" in stopped["message"]
    assert store.baseline() is None  # the first Sync Now is finished by the next run
    result = sync(liscio, ipm, store)
    assert result.outcome == "done"
    reference_l, reference_i = small_firm()
    with Store.open(store.path.with_name("ref.sqlite")) as ref:
        sync(reference_l, reference_i, ref)
    assert (liscio.snapshot(), ipm.snapshot()) == (reference_l.snapshot(), reference_i.snapshot())


def test_ipm_down_while_fetching_stops_cleanly(store):
    liscio, ipm = small_firm()
    ipm.down = True
    with pytest.raises(ServiceError):
        sync(liscio, ipm, store)
    assert store.runs()[-1]["outcome"] == "stopped" and store.links() == []


def test_dry_run_writes_nothing_anywhere(store):
    liscio, ipm = small_firm()
    snap = (liscio.snapshot(), ipm.snapshot())
    result = sync(liscio, ipm, store, dry_run=True)
    assert result.run_id is None and result.outcome == "dry_run"
    assert result.counts["linked"] == 3 and result.counts["ipm_fields_written"] == 3
    assert (liscio.snapshot(), ipm.snapshot()) == snap
    assert store.runs() == [] and store.links() == [] and store.baseline() is None
    assert store.cached_records(A) == []


def test_incremental_pull_after_the_first_sync(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    assert all(since is None for _, since in ipm.pulls)
    ipm.pulls.clear()
    ipm.add(A, "Fir Group")
    result = sync(liscio, ipm, store)
    assert ipm.pulls and all(since is not None for _, since in ipm.pulls)
    assert any(a.ipm_key == one(ipm, A, "Fir Group").id for a in result.plan.actions)
    # unchanged records come from the cache: every IPM record is still known
    known = {a.ipm_key for a in result.plan.actions if a.ipm_key}
    assert one(ipm, A, "Delta Inc").id in known
    ipm.pulls.clear()
    sync(liscio, ipm, store, full=True)
    assert all(since is None for _, since in ipm.pulls)
    assert OVERLAP.total_seconds() > 0


def test_details_are_loaded_only_where_needed(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    loads = ipm.detail_loads
    assert loads >= 1  # the linked organizations' addresses were needed
    assert loads < len(ipm.records[A])  # Delta Inc (unmatched) was not loaded


def test_progress_reports_three_stages_and_cancel_stops_between_actions(store):
    liscio, ipm = small_firm()
    seen = []
    cancel = threading.Event()

    def progress(stage, done, total, message):
        seen.append(stage)
        if stage == "linking" and "link" in message:
            cancel.set()

    result = sync(liscio, ipm, store, progress=progress, cancel=cancel)
    assert [s for i, s in enumerate(seen) if s not in seen[:i]] == list(STAGES)
    assert result.outcome == "cancelled"
    assert store.runs()[-1]["outcome"] == "cancelled"
    assert len(store.links()) == 1  # stopped after the first action
    assert sync(liscio, ipm, store).outcome == "done"
    assert len(store.links()) == 3


def test_accounts_only_sync_still_records_the_contacts_baseline(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store, policy=SyncPolicy(kinds=(A,)))
    assert store.links(C) == [] and len(store.links(A)) == 2
    assert {k for k, _ in store.baseline()} == {A, C}
    sync(liscio, ipm, store)
    assert not ipm.by_name(C, "Bob Stone")  # a baseline contact: not created


def test_a_second_sync_on_the_same_state_gets_lock_held_and_records_nothing(store):
    from pmtools.errors import LockHeld

    liscio, ipm = small_firm()
    with Store.open(store.path) as other, other.lock():
        with pytest.raises(LockHeld):
            sync(liscio, ipm, store)
    assert store.runs() == [] and ipm.field_writes == []
    assert sync(liscio, ipm, store, lock_timeout=1).outcome == "done"


def test_cancel_before_planning_writes_nothing(store):
    liscio, ipm = small_firm()
    cancel = threading.Event()
    cancel.set()
    result = sync(liscio, ipm, store, cancel=cancel)
    assert result.outcome == "cancelled" and result.plan.actions == ()
    assert store.runs()[-1]["outcome"] == "cancelled" and store.links() == []
    assert ipm.detail_loads == 0 and store.baseline() is None


def test_loaded_details_are_reused_until_the_record_changes(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    sync(liscio, ipm, store)  # reloads the cards the first sync wrote to
    loads = ipm.detail_loads
    sync(liscio, ipm, store)
    assert ipm.detail_loads == loads  # nothing changed: the cached cards are good
    acme = one(ipm, A, "ACME LLC")
    ipm.edit(A, acme.id, address=Address(line1="9 Elsewhere Rd"))  # an edit in IPM
    sync(liscio, ipm, store)
    assert ipm.detail_loads == loads + 1
    assert one(ipm, A, "ACME LLC").address == one(liscio, A, "Acme LLC").address


def test_a_full_pull_at_least_daily_finds_deleted_ipm_records(store):
    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    ann = one(ipm, C, "Lee, Ann")
    ipm.remove(C, ann.id)
    sync(liscio, ipm, store)  # incremental: the deletion is not seen yet
    assert store.link_for(C, ipm_key=ann.id).status is LinkStatus.LINKED
    for kind in Kind:
        store.set_full_pull(kind, "2000-01-01T00:00:00Z")
    ipm.pulls.clear()
    loads = ipm.detail_loads
    sync(liscio, ipm, store)
    assert all(since is None for _, since in ipm.pulls)
    assert ipm.detail_loads > loads  # details are loaded afresh with a full pull
    assert store.link_for(C, ipm_key=ann.id).status is LinkStatus.ORPHANED


def test_rejected_credentials_stop_the_run_cleanly(store):
    from pmtools.errors import AuthError

    liscio, ipm = small_firm()
    sync(liscio, ipm, store)
    liscio.edit(A, one(liscio, A, "Acme LLC").id, phone="555-0111")
    ipm.down, ipm.down_error = True, AuthError
    with pytest.raises(AuthError):
        sync(liscio, ipm, store)
    assert store.runs()[-1]["outcome"] == "stopped"
    ipm.down = False
    assert sync(liscio, ipm, store).counts["ipm_fields_written"] == 1


def test_apply_after_a_preview_writes_only_the_plan_shown(store):
    liscio, ipm = small_firm()
    preview = sync(liscio, ipm, store, dry_run=True)
    acme = one(liscio, A, "Acme LLC")
    liscio.edit(A, acme.id, phone="555-0999")  # someone edits Liscio after the preview
    before = {k: dict(v) for k, v in ipm.records.items()}
    with pytest.raises(PlanChanged) as refused:
        sync(liscio, ipm, store, expected=preview.plan)
    assert {k: dict(v) for k, v in ipm.records.items()} == before  # nothing written
    assert store.baseline() is None and not store.links()
    new_plan = refused.value.plan
    assert any(a.op is Op.WRITE and a.after == "555-0999" for a in new_plan.actions)
    result = sync(liscio, ipm, store, expected=new_plan)  # confirmed again: applied
    assert result.outcome == "done" and one(ipm, A, "ACME LLC").phone == "555-0999"
