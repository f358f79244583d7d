"""A person's actions: link, delink, not a match, create in Liscio/IPM, disconnect, status."""

import pytest
from fakes import Faults, one, small_firm

from pmtools.core.plan import DecisionKind, LinkHow, SyncPolicy
from pmtools.core.records import Address, Kind
from pmtools.engine import operations
from pmtools.engine.sync import run_sync
from pmtools.errors import ConfigError, LockHeld, ServiceError
from pmtools.store import Store

A, C = Kind.ACCOUNTS, Kind.CONTACTS


@pytest.fixture
def world(tmp_path):
    liscio, ipm = small_firm()
    with Store.open(tmp_path / "state.sqlite") as store:
        run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
        yield liscio, ipm, store


def test_a_manual_link_with_a_country_that_names_none_records_the_error(world):
    liscio, ipm, store = world
    cedar, delta = one(liscio, A, "Cedar Ltd"), one(ipm, A, "Delta Inc")
    liscio.edit(A, cedar.id, address=Address(city="Poseidonia", country="Atlantis"))
    result = operations.link(A, cedar.id, delta.id, store=store, liscio=liscio, ipm=ipm)
    assert store.run(result.run_id)["outcome"] == "done_with_errors"
    (error,) = store.errors(run_id=result.run_id)
    assert error["field"] == "address" and "'Cedar Ltd'" in error["message"]
    assert "'Atlantis'" in error["message"]
    assert one(ipm, A, "Delta Inc").address is None  # nothing of that address was written
    assert one(ipm, A, "Delta Inc").phone == "555-0300"  # the phone was
    assert store.link_for(A, liscio_id=cedar.id).first_synced_at is None  # still due


def test_manual_link_applies_the_first_sync_at_once(world):
    liscio, ipm, store = world
    cedar, delta = one(liscio, A, "Cedar Ltd"), one(ipm, A, "Delta Inc")
    result = operations.link(
        A, cedar.id, delta.id, store=store, liscio=liscio, ipm=ipm, started_by="app"
    )
    link = store.link_for(A, liscio_id=cedar.id)
    assert link.how is LinkHow.MANUAL and link.first_synced_at
    assert one(ipm, A, "Delta Inc").phone == "555-0300"  # Liscio's overwrites IPM's
    assert one(ipm, A, "Delta Inc").name == "Delta Inc"  # names are not synced
    run = store.run(result.run_id)
    assert (run["command"], run["started_by"], run["outcome"]) == ("link", "app", "done")
    ops = [(c["op"], c["field"]) for c in store.changes(run_id=result.run_id)]
    assert ops == [("link", None), ("write", "phone")]
    with pytest.raises(ConfigError, match="already linked"):
        operations.link(
            A, cedar.id, one(ipm, A, "Birch & Co").id, store=store, liscio=liscio, ipm=ipm
        )
    with pytest.raises(ConfigError, match="no ipm"):
        operations.link(
            C, one(liscio, C, "Bob Stone").id, "nope", store=store, liscio=liscio, ipm=ipm
        )


def test_delink_writes_nothing_and_is_never_auto_linked_again(world):
    liscio, ipm, store = world
    acme = one(liscio, A, "Acme LLC")
    writes = (len(ipm.field_writes), len(liscio.field_writes))
    operations.delink(A, acme.id, store=store)
    assert store.link_for(A, liscio_id=acme.id) is None
    assert [d.decision for d in store.decisions(A)] == [DecisionKind.DELINKED]
    run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
    assert store.link_for(A, liscio_id=acme.id) is None
    assert (len(ipm.field_writes), len(liscio.field_writes)) == writes


def test_not_a_match_stops_auto_linking(tmp_path):
    liscio, ipm = small_firm()
    with Store.open(tmp_path / "s.sqlite") as store:
        operations.not_a_match(
            A, one(liscio, A, "Acme LLC").id, one(ipm, A, "ACME LLC").id, store=store
        )
        run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
        assert store.link_for(A, liscio_id=one(liscio, A, "Acme LLC").id) is None
        assert len(store.links(A)) == 1
        # a person may still link them by hand; the decision then goes
        operations.link(
            A,
            one(liscio, A, "Acme LLC").id,
            one(ipm, A, "ACME LLC").id,
            store=store,
            liscio=liscio,
            ipm=ipm,
        )
        assert store.decisions(A) == []


def test_create_in_liscio_from_an_ipm_record(world):
    liscio, ipm, store = world
    delta = one(ipm, A, "Delta Inc")
    result = operations.create_in_liscio(A, delta.id, store=store, liscio=liscio, ipm=ipm)
    made = one(liscio, A, "Delta Inc")
    assert made.phone == "555-0400" and made.external_id
    link = store.link_for(A, ipm_key=delta.id)
    assert link.liscio_id == made.id and link.how is LinkHow.CREATED and link.first_synced_at
    assert result.counts["created_in_liscio"] == 1
    with pytest.raises(ConfigError, match="already linked"):
        operations.create_in_liscio(A, delta.id, store=store, liscio=liscio, ipm=ipm)


def test_create_in_ipm_is_idempotent_when_the_reply_is_lost(world):
    liscio, ipm, store = world
    bob = one(liscio, C, "Bob Stone")
    ipm.faults = Faults(fail_at=0, lose_reply=True)
    with pytest.raises(ServiceError):
        operations.create_in_ipm(C, bob.id, store=store, liscio=liscio, ipm=ipm)
    assert len(ipm.by_name(C, "Bob Stone")) == 1  # created; the reply was lost
    assert store.link_for(C, liscio_id=bob.id) is None
    assert store.runs()[-1]["outcome"] == "stopped"
    operations.create_in_ipm(C, bob.id, store=store, liscio=liscio, ipm=ipm)
    (made,) = ipm.by_name(C, "Bob Stone")
    assert made.email == "bob@birch.example"
    assert store.link_for(C, liscio_id=bob.id).ipm_key == made.id


def test_lost_create_reply_is_linked_by_the_next_sync(world):
    liscio, ipm, store = world
    bob = one(liscio, C, "Bob Stone")
    ipm.faults = Faults(fail_at=0, lose_reply=True)
    with pytest.raises(ServiceError):
        operations.create_in_ipm(C, bob.id, store=store, liscio=liscio, ipm=ipm)
    run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
    (made,) = ipm.by_name(C, "Bob Stone")
    link = store.link_for(C, liscio_id=bob.id)
    assert link.ipm_key == made.id and link.how is LinkHow.CREATED
    assert [c["status"] for c in store.changes(op="create")] == ["confirmed"]


def test_disconnect_forgets_links_but_keeps_the_audit_trail(world):
    liscio, ipm, store = world
    changes = len(store.changes())
    snap = (liscio.snapshot(), ipm.snapshot())
    result = operations.disconnect(store=store)
    assert store.links() == [] and store.baseline() is None
    assert len(store.changes()) == changes and "forgot 3 links" in result.message
    assert (liscio.snapshot(), ipm.snapshot()) == snap
    assert operations.status(store=store)["connected"] is False
    writes = len(ipm.field_writes) + len(liscio.field_writes)
    again = run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
    assert again.counts["linked"] == 3 and len(store.links()) == 3  # a fresh first Sync Now
    assert len(ipm.field_writes) + len(liscio.field_writes) == writes  # values already agree


def test_status(world):
    liscio, ipm, store = world
    info = operations.status(store=store)
    assert info["connected"] and info["kinds"]["accounts"]["linked"] == 2
    assert info["kinds"]["contacts"]["baseline"] == 2
    assert (
        info["kinds"]["accounts"]["ipm_last_full_pull"]
        and info["kinds"]["accounts"]["ipm_high_water"]
    )
    assert info["last_run"]["command"] == "sync" and info["open_intents"] == 0


def test_operations_hold_the_lock(world, tmp_path):
    liscio, ipm, store = world
    with Store.open(store.path) as other, other.lock():
        with pytest.raises(LockHeld):
            operations.delink(A, one(liscio, A, "Acme LLC").id, store=store)
