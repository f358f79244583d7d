"""apply: intents before writes, one call per record, idempotent creates, interrupted runs."""

import tempfile
from collections import Counter
from pathlib import Path

from fakes import FakeIpm, FakeLiscio, Faults, one, small_firm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pmtools.core.plan import LinkHow, SyncPolicy
from pmtools.core.records import Address, Kind, Side
from pmtools.engine.sync import run_sync
from pmtools.errors import ServiceError
from pmtools.store import Store

A, C = Kind.ACCOUNTS, Kind.CONTACTS
POLICY = SyncPolicy(force=True)


def sync(liscio, ipm, store, **kwargs):
    return run_sync(liscio=liscio, ipm=ipm, store=store, policy=POLICY, **kwargs)


def test_writes_of_one_record_go_in_one_call_with_an_audit_row_per_field(tmp_path):
    liscio, ipm = FakeLiscio(), FakeIpm()
    liscio.add(A, "Acme", phone="555-0100", website="acme.example")
    ipm.add(A, "Acme")
    with Store.open(tmp_path / "s.sqlite") as store:
        result = sync(liscio, ipm, store)
        assert ipm.update_calls == 1
        rows = store.changes(run_id=result.run_id, op="write")
        assert sorted((r["field"], r["before"], r["after"]) for r in rows) == [
            ("phone", None, "555-0100"),
            ("website", None, "acme.example"),
        ]


def test_a_write_is_an_intent_before_it_is_sent(tmp_path):
    liscio, ipm = small_firm()
    ipm.faults = Faults(fail_at=0)  # the first write fails before it reaches IPM
    with Store.open(tmp_path / "s.sqlite") as store:
        try:
            sync(liscio, ipm, store)
        except ServiceError:
            pass
        (intent,) = [c for c in store.changes() if c["status"] == "intent"]
        assert intent["side"] == "ipm" and intent["before"] != intent["after"]
        assert ipm.field_writes == []
        sync(liscio, ipm, store)
        intent = next(c for c in store.changes() if c["id"] == intent["id"])
        assert intent["status"] == "abandoned"  # it never reached IPM; the resume wrote it
        assert store.changes(status="intent") == []


def test_a_write_whose_reply_was_lost_is_confirmed_on_resume_and_not_sent_again(tmp_path):
    liscio, ipm = small_firm()
    ipm.faults = Faults(fail_at=0, lose_reply=True)
    with Store.open(tmp_path / "s.sqlite") as store:
        try:
            sync(liscio, ipm, store)
        except ServiceError:
            pass
        (intent,) = store.changes(status="intent")
        written = list(ipm.field_writes)
        sync(liscio, ipm, store)
        assert next(c for c in store.changes() if c["id"] == intent["id"])["status"] == "confirmed"
        assert not set(ipm.field_writes[len(written) :]) & set(written)


def test_duplicate_external_id_is_looked_up_and_linked(tmp_path):
    from pmtools.core.planner import external_id_for

    liscio, ipm = small_firm()
    with Store.open(tmp_path / "s.sqlite") as store:
        sync(liscio, ipm, store)
        elm = liscio.add(A, "Elm Partners", phone="555-0500")
        # made by an earlier run whose state file was lost: same external id, other name
        earlier = ipm.add(A, "Elm Partners (old)", external_id=external_id_for(A, Side.IPM, elm.id))
        sync(liscio, ipm, store)
        assert not ipm.by_name(A, "Elm Partners")
        link = store.link_for(A, liscio_id=elm.id)
        assert link.ipm_key == earlier.id and link.how is LinkHow.CREATED
        assert ipm.records[A][earlier.id].phone == "555-0500"


# -- property: an interrupted run, run again, ends where an uninterrupted one does -----------
FIELD_VALUES = {
    "address": (None, Address(line1="1 Oak St", city="Troy"), Address(line1="2 Elm St")),
    "phone": (None, "555-0101", "555-0202"),
    "website": (None, "a.example", "b.example"),
    "title": (None, "CFO", "Owner"),
    "email": (None, "a@x.example", "b@x.example"),
}


def _values(kind):
    return st.fixed_dictionaries({f: st.sampled_from(FIELD_VALUES[f]) for f in kind.fields})


def _entries(kind):
    return st.lists(
        st.tuples(st.sampled_from(("both", "liscio", "ipm")), _values(kind), _values(kind)),
        max_size=4,
    )


firms = st.fixed_dictionaries(
    {
        "accounts": _entries(A),
        "contacts": _entries(C),
        # later: new Liscio records (some named like an unmatched IPM record) and Liscio edits
        "new": st.lists(
            st.tuples(st.sampled_from(list(Kind)), st.integers(0, 5), st.booleans()), max_size=3
        ),
        "edits": st.lists(
            st.tuples(
                st.sampled_from(list(Kind)),
                st.integers(0, 3),
                st.sampled_from(("phone", "title")),
                st.integers(1, 2),
            ),
            max_size=3,
        ),
    }
)


def _name(kind, i):
    return f"Org {i}" if kind is A else f"Pat Number{i}"


def _build(spec):
    liscio, ipm = FakeLiscio(), FakeIpm()
    for kind in Kind:
        for i, (where, lv, iv) in enumerate(spec[str(kind)]):
            if where in ("both", "liscio"):
                liscio.add(kind, _name(kind, i), **lv)
            if where in ("both", "ipm"):
                ipm.add(kind, _name(kind, i).upper(), **iv)
    return liscio, ipm


def _later(spec, liscio):
    for kind, i, owner in spec["new"]:
        extra = {"created_by": "account_owner" if owner else "firm"} if kind is C else {}
        if not liscio.by_name(kind, _name(kind, i)):
            liscio.add(
                kind, _name(kind, i), **extra, **{kind.fields[0]: FIELD_VALUES[kind.fields[0]][1]}
            )
    for kind, i, field, which in spec["edits"]:
        if field in kind.fields and liscio.by_name(kind, _name(kind, i)):
            rec = one(liscio, kind, _name(kind, i))
            liscio.edit(kind, rec.id, **{field: FIELD_VALUES[field][which]})


def _run_to_the_end(liscio, ipm, store):
    for _ in range(3):
        try:
            return sync(liscio, ipm, store)
        except ServiceError:
            continue
    raise AssertionError("the run did not finish after the fault")


def _scenario(spec, faults, path):
    liscio, ipm = _build(spec)
    liscio.faults = ipm.faults = faults
    with Store.open(path) as store:
        _run_to_the_end(liscio, ipm, store)
        _later(spec, liscio)
        _run_to_the_end(liscio, ipm, store)
        links = {
            (
                link.kind,
                link.liscio_id,
                link.ipm_key,
                link.how,
                link.status,
                link.first_synced_at is not None,
            )
            for link in store.links()
        }
        open_intents = store.changes(status="intent")
    writes = Counter(liscio.field_writes + ipm.field_writes)
    created = [ext for _, _, ext in liscio.creates + ipm.creates]
    return liscio.snapshot(), ipm.snapshot(), links, writes, created, open_intents


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=firms, fail_at=st.integers(0, 15), lose_reply=st.booleans())
def test_an_interrupted_run_run_again_ends_like_an_uninterrupted_one(spec, fail_at, lose_reply):
    with tempfile.TemporaryDirectory() as folder:
        reference = _scenario(spec, Faults(), Path(folder) / "reference.sqlite")
        interrupted = _scenario(
            spec,
            Faults(fail_at=fail_at, lose_reply=lose_reply),
            Path(folder) / "interrupted.sqlite",
        )
    ref_l, ref_i, ref_links, ref_writes, ref_created, _ = reference
    got_l, got_i, got_links, got_writes, got_created, open_intents = interrupted
    assert (got_l, got_i) == (ref_l, ref_i)
    assert got_links == ref_links
    assert len(got_created) == len(set(got_created)) == len(ref_created)  # nothing made twice
    assert got_writes == ref_writes  # no field write done twice
    assert open_intents == []


def test_a_link_that_conflicts_is_an_error_and_its_writes_are_not_sent(tmp_path):
    from pmtools.core.plan import Action, Op, Plan
    from pmtools.engine.apply import apply_plan

    liscio, ipm = small_firm()
    acme_l, acme_i = one(liscio, A, "Acme LLC"), one(ipm, A, "ACME LLC")
    with Store.open(tmp_path / "s.sqlite") as store:
        store.add_link(A, acme_l.id, one(ipm, A, "Delta Inc").id, how=LinkHow.MANUAL, run_id=None)
        run = store.start_run(command="sync", started_by="cli", kinds=[A])
        plan = Plan(
            policy=POLICY,
            actions=(
                Action(
                    op=Op.LINK,
                    kind=A,
                    liscio_id=acme_l.id,
                    ipm_key=acme_i.id,
                    how=LinkHow.AUTOMATIC,
                ),
                Action(
                    op=Op.WRITE,
                    kind=A,
                    liscio_id=acme_l.id,
                    ipm_key=acme_i.id,
                    side=Side.IPM,
                    field="phone",
                    before="555-0199",
                    after="555-0100",
                    rule="r",
                ),
                Action(op=Op.MARK_SYNCED, kind=A, liscio_id=acme_l.id, ipm_key=acme_i.id),
            ),
        )
        result = apply_plan(plan, liscio=liscio, ipm=ipm, store=store, run_id=run)
        assert result.outcome == "done_with_errors" and result.counts["errors"] == 1
        assert ipm.field_writes == [] and "already linked" in store.errors()[0]["message"]
        assert store.link_for(A, liscio_id=acme_l.id).first_synced_at is None


def test_a_rejected_create_is_an_error_and_the_next_run_creates_it_once(tmp_path):
    liscio, ipm = small_firm()
    with Store.open(tmp_path / "s.sqlite") as store:
        sync(liscio, ipm, store)
        elm = liscio.add(A, "Elm Partners", phone="555-0500")
        ipm.reject.add("Elm Partners")
        result = sync(liscio, ipm, store)
        assert result.outcome == "done_with_errors" and not ipm.by_name(A, "Elm Partners")
        assert store.errors(run_id=result.run_id)[0]["op"] == "create"
        assert [c["status"] for c in store.changes(op="create")] == ["failed"]
        ipm.reject.clear()
        assert sync(liscio, ipm, store).outcome == "done"
        (made,) = ipm.by_name(A, "Elm Partners")
        assert store.link_for(A, liscio_id=elm.id).ipm_key == made.id


# -- invalid emails (issue 8 §5) ---------------------------------------------------------------
BAD_EMAILS = [
    '=HYPERLINK("http://evil.example","click")',
    "not an email",
    "ann@@x.com",
    "ann@x",
    "+ann@x.com",
    "ann\u202e@x.com",
    "ann@x.com\x00",
]


def test_an_invalid_liscio_email_is_a_record_error_naming_the_record_and_never_sent(tmp_path):
    for n, bad in enumerate(BAD_EMAILS):
        liscio, ipm = FakeLiscio(), FakeIpm()
        liscio.add(C, "Ann Lee", email=bad, title="CFO")
        ipm.add(C, "Ann Lee")
        with Store.open(tmp_path / f"{n}.sqlite") as store:
            result = sync(liscio, ipm, store)
            assert result.outcome == "done_with_errors", bad
            (err,) = store.errors(run_id=result.run_id)
            assert err["name"] == "Ann Lee" and err["field"] == "email"
            assert 'Liscio contact "Ann Lee"' in err["message"]
            assert (
                "not a valid address" in err["message"] and "correct it in Liscio" in err["message"]
            )
            # the other field is written; the email never reaches IPM
            assert [(f, v) for _, _, f, v in ipm.field_writes] == [("title", "CFO")]
            (person,) = ipm.by_name(C, "Ann Lee")
            assert person.email is None and person.title == "CFO"
            # the pair's first sync is not complete: the next sync says it again
            again = sync(liscio, ipm, store)
            assert again.outcome == "done_with_errors" and ipm.field_writes == [
                (C, person.id, "title", "CFO")
            ]
            # corrected at the source, the next sync writes it and is done
            (ann,) = liscio.by_name(C, "Ann Lee")
            liscio.edit(C, ann.id, email="ann@lee.example")
            assert sync(liscio, ipm, store).outcome == "done"
            assert ipm.by_name(C, "Ann Lee")[0].email == "ann@lee.example"


def test_a_record_created_from_an_invalid_email_is_created_without_it(tmp_path):
    liscio, ipm = small_firm()
    with Store.open(tmp_path / "s.sqlite") as store:
        sync(liscio, ipm, store)
        liscio.add(C, "Zed Quill", email='=HYPERLINK("http://evil.example")')
        result = sync(liscio, ipm, store)
        assert result.outcome == "done_with_errors"
        (made,) = ipm.by_name(C, "Zed Quill")
        assert made.email is None  # created and linked; the bad value never sent
        (err,) = store.errors(run_id=result.run_id)
        assert err["name"] == "Zed Quill" and "not a valid address" in err["message"]


def test_an_invalid_ipm_email_never_fills_liscio(tmp_path):
    liscio, ipm = FakeLiscio(), FakeIpm()
    liscio.add(C, "Bo Chen")
    ipm.add(C, "Bo Chen", email="bo at chen dot example")
    with Store.open(tmp_path / "s.sqlite") as store:
        result = sync(liscio, ipm, store)
        assert result.outcome == "done_with_errors"
        assert liscio.by_name(C, "Bo Chen")[0].email is None and liscio.field_writes == []
        (err,) = store.errors(run_id=result.run_id)
        assert 'IPM person "Bo Chen"' in err["message"] and "correct it in IPM" in err["message"]


def test_a_name_of_only_invisible_characters_is_never_created_even_by_hand(tmp_path):
    from pmtools.engine import operations

    liscio, ipm = FakeLiscio(), FakeIpm()
    ghost = liscio.add(A, "\u200b\u202e\u2060")
    nobody = liscio.add(C, "\u200b \u200c", first_name="\u200b", last_name="\u200c")
    shadow = ipm.add(A, "\u3164")
    with Store.open(tmp_path / "s.sqlite") as store:
        for kind, rec, create in (
            (A, ghost, operations.create_in_ipm),
            (C, nobody, operations.create_in_ipm),
            (A, shadow, operations.create_in_liscio),
        ):
            result = create(kind, rec.id, store=store, liscio=liscio, ipm=ipm)
            assert result.outcome == "done_with_errors"
            (error,) = result.errors
            assert "has no visible name" in error and "was not created" in error
        assert len(ipm.records[A]) == 1 and len(ipm.records[C]) == 0
        assert len(liscio.records[A]) == 1
        assert [e["op"] for e in store.errors()] == ["create"] * 3
