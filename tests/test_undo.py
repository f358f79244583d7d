"""Undo: put back what a run wrote, leave changed values alone, delink, list creates.

Real SQLite state files and the stateful in-memory fakes of both systems; assertions are on
what each system holds afterwards and on the audit trail.
"""

import pytest
from fakes import FakeIpm, FakeLiscio

from pmtools.core.plan import DecisionKind, SyncPolicy
from pmtools.core.records import Address, Kind, Side
from pmtools.engine.sync import run_sync
from pmtools.engine.undo import plan_undo, undo_run
from pmtools.errors import ConfigError
from pmtools.store import Store

A, C = Kind.ACCOUNTS, Kind.CONTACTS


@pytest.fixture
def world(tmp_path):
    liscio, ipm = FakeLiscio(), FakeIpm()
    store = Store.open(tmp_path / "state.sqlite")
    yield liscio, ipm, store
    store.close()


def sync(world, **kw):
    liscio, ipm, store = world
    return run_sync(
        liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy(force=True, **kw), started_by="cli"
    )


def seed_acme(world):
    liscio, ipm, _ = world
    lis = liscio.add(A, "Acme LLC", phone="111-1111", website="acme.com")
    org = ipm.add(A, "ACME llc", phone="999-9999", address=Address(line1="1 IPM Street"))
    return lis, org


def test_undo_puts_values_back_and_leaves_a_changed_value_alone(world):
    liscio, ipm, store = world
    lis, org = seed_acme(world)
    first = sync(world)
    assert ipm.records[A][org.id].phone == "111-1111"  # Liscio overwrote IPM
    assert ipm.records[A][org.id].website == "acme.com"  # filled in IPM
    assert liscio.records[A][lis.id].address == Address(line1="1 IPM Street")  # filled
    ipm.edit(A, org.id, website="changed-by-a-person.com")  # changed since the run

    result = undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")

    assert ipm.records[A][org.id].phone == "999-9999"  # put back
    assert ipm.records[A][org.id].website == "changed-by-a-person.com"  # conflict: left
    assert liscio.records[A][lis.id].address is None  # the filled field emptied
    (conflict,) = result.plan.conflicts
    assert (conflict.side, conflict.field, conflict.record_id) == (Side.IPM, "website", org.id)
    assert "changed-by-a-person.com" in conflict.reason
    assert "CONFLICT" in result.plan.text() and result.counts["conflicts"] == 1
    # the link the run made is delinked, and stays delinked at the next Sync Now
    assert store.link_for(A, liscio_id=lis.id) is None
    assert [d.decision for d in store.decisions(A)] == [DecisionKind.DELINKED]
    # the undo is a run of its own, with its own audit rows
    run = store.run(result.undo_run_id)
    assert (run["command"], run["undoes_run"], run["started_by"]) == ("undo", first.run_id, "cli")
    assert run["outcome"] == "done"
    rows = store.changes(run_id=result.undo_run_id)
    assert {r["rule"] for r in rows} == {f"undo:run-{first.run_id}"}
    assert {(r["op"], r["side"], r["field"]) for r in rows} == {
        ("write", "ipm", "phone"),
        ("write", "liscio", "address"),
        ("delink", None, None),
    }
    assert all(r["status"] == "confirmed" for r in rows)
    again = sync(world)
    assert again.counts["linked"] == 0 and store.link_for(A, liscio_id=lis.id) is None


def test_undo_of_an_undo_redoes_the_run(world):
    liscio, ipm, store = world
    lis, org = seed_acme(world)
    first = sync(world)
    after_sync = (ipm.snapshot(), liscio.snapshot())
    undo = undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert ipm.records[A][org.id].phone == "999-9999"

    redo = undo_run(store, undo.undo_run_id, liscio=liscio, ipm=ipm, started_by="app")

    assert (ipm.snapshot(), liscio.snapshot()) == after_sync
    link = store.link_for(A, liscio_id=lis.id)
    assert link is not None and link.ipm_key == org.id and str(link.how) == "automatic"
    assert store.decisions(A) == []
    assert store.run(redo.undo_run_id)["undoes_run"] == undo.undo_run_id
    assert not redo.plan.conflicts


def test_undo_twice_writes_nothing_the_second_time(world):
    liscio, ipm, store = world
    seed_acme(world)
    first = sync(world)
    undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    writes = len(ipm.field_writes) + len(liscio.field_writes)
    second = plan_undo(store, first.run_id, liscio=liscio, ipm=ipm)
    assert second.writes == () and second.links == () and second.conflicts == ()
    undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert len(ipm.field_writes) + len(liscio.field_writes) == writes


def test_undo_of_a_run_with_links_and_creates_lists_creates_and_deletes_nothing(world):
    liscio, ipm, store = world
    liscio.add(C, "Ana Lopez", email="ana@x.com")
    ipm.add(C, "Ana Lopez")
    sync(world)  # baseline; links Ana
    new = liscio.add(C, "Bo Chen", email="bo@x.com", title="CFO")  # after the baseline
    second = sync(world)
    assert second.counts["created_in_ipm"] == 1
    (made,) = ipm.by_name(C, "Bo Chen")

    plan = plan_undo(store, second.run_id, liscio=liscio, ipm=ipm)
    assert [(c["side"], c["record_id"], c["name"]) for c in plan.created] == [
        ("ipm", made.id, "Bo Chen")
    ]
    assert [(c.op, c.liscio_id, c.ipm_key) for c in plan.links] == [("delink", new.id, made.id)]
    assert "not deleted" in plan.text()

    undo_run(store, second.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert made.id in ipm.records[C]  # nothing deleted
    assert store.link_for(C, liscio_id=new.id) is None
    assert store.link_for(C, ipm_key=ipm.by_name(C, "Ana Lopez")[0].id) is not None
    # the next Sync Now neither links the pair again nor creates a second Bo Chen
    third = sync(world)
    assert third.counts["linked"] == third.counts["created_in_ipm"] == 0
    assert len(ipm.by_name(C, "Bo Chen")) == 1


def test_dry_run_writes_nothing(world):
    liscio, ipm, store = world
    seed_acme(world)
    first = sync(world)
    before = (ipm.snapshot(), liscio.snapshot(), len(store.runs()), len(store.changes()))
    plan = plan_undo(store, first.run_id, liscio=liscio, ipm=ipm)
    assert {(a.side, a.field) for a in plan.writes} == {
        (Side.IPM, "phone"),
        (Side.IPM, "website"),
        (Side.LISCIO, "address"),
    }
    assert "restore ipm accounts 'ACME llc'" in plan.text()
    assert (ipm.snapshot(), liscio.snapshot(), len(store.runs()), len(store.changes())) == before


def test_undo_of_a_delink_links_again(world):
    from pmtools.engine.operations import delink

    liscio, ipm, store = world
    lis, org = seed_acme(world)
    sync(world)
    op = delink(A, lis.id, store=store, started_by="cli")
    undo_run(store, op.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert store.link_for(A, liscio_id=lis.id).ipm_key == org.id
    assert store.decisions(A) == []


def test_unknown_run_is_refused(world):
    liscio, ipm, store = world
    with pytest.raises(ConfigError, match="no run 42"):
        plan_undo(store, 42, liscio=liscio, ipm=ipm)


def test_an_undo_stopped_by_a_service_failure_finishes_when_run_again(world):
    from fakes import Faults

    from pmtools.errors import ServiceError

    liscio, ipm, store = world
    lis, org = seed_acme(world)
    first = sync(world)
    ipm.faults = Faults(fail_at=1, lose_reply=True)  # the 2nd write lands, its reply is lost
    liscio.faults = ipm.faults
    with pytest.raises(ServiceError):
        undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert store.runs()[-1]["outcome"] == "stopped"
    ipm.faults = liscio.faults = Faults()
    result = undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert result.outcome == "done"
    assert ipm.records[A][org.id].phone == "999-9999"
    assert ipm.records[A][org.id].website is None
    assert liscio.records[A][lis.id].address is None
    # every field was written back exactly once across the two tries
    undone = [
        c
        for c in store.changes(op="write", status="confirmed")
        if c["rule"] == f"undo:run-{first.run_id}"
    ]
    assert sorted((c["side"], c["field"]) for c in undone) == [
        ("ipm", "phone"),
        ("ipm", "website"),
        ("liscio", "address"),
    ]


def test_undo_puts_back_an_invalid_email_the_system_held_before(world):
    liscio, ipm, store = world
    liscio.add(C, "Ann Lee", email="ann@lee.example")
    person = ipm.add(C, "Ann Lee", email="ann at lee")  # IPM's own (invalid) value
    first = sync(world)
    assert ipm.records[C][person.id].email == "ann@lee.example"  # Liscio's wins
    result = undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert result.outcome == "done" and result.errors == ()
    assert ipm.records[C][person.id].email == "ann at lee"  # exactly what was there


def test_a_run_made_before_a_disconnect_is_not_undone(world):
    """QA: after `disconnect` and a switch of firm, `undo 1` wrote into the other firm."""
    from pmtools.engine import operations

    liscio, ipm, store = world
    seed_acme(world)
    first = sync(world)
    operations.disconnect(store=store)
    writes = len(ipm.field_writes) + len(liscio.field_writes)
    with pytest.raises(ConfigError, match="made before `pmtools disconnect`"):
        plan_undo(store, first.run_id, liscio=liscio, ipm=ipm)
    with pytest.raises(ConfigError, match="made before `pmtools disconnect`"):
        undo_run(store, first.run_id, liscio=liscio, ipm=ipm, started_by="cli")
    assert len(ipm.field_writes) + len(liscio.field_writes) == writes
