"""Bulk decisions applied as one run and undone; link shows before it writes; the create guard;
the spreadsheet round trip. Against the stateful fakes of both systems and a real state file."""

import threading

import pytest
from fakes import small_firm

from pmtools.core.plan import DecisionKind, LinkHow, SyncPolicy
from pmtools.core.records import Kind, Side
from pmtools.engine import operations
from pmtools.engine.sync import run_sync
from pmtools.engine.undo import undo_run
from pmtools.errors import DuplicateRisk, PlanChanged
from pmtools.review import (
    ReviewDecision,
    Verdict,
    apply_preview,
    build_queue,
    link_preview,
    load_card,
    load_sources,
    parse_decisions,
    preview,
    read_sheet,
    to_frame,
    write_sheet,
)
from pmtools.store import Store

A, C = Kind.ACCOUNTS, Kind.CONTACTS
L, I = Side.LISCIO, Side.IPM


@pytest.fixture
def world(tmp_path):
    """The small firm after its first sync, with records for the review to decide."""
    liscio, ipm = small_firm()
    liscio.add(A, "Elm Studios L.L.C.", website="elm.example")
    ipm.add(A, "Elm Studios LLC", phone="555-0500", address="5 Elm St")
    liscio.add(
        C,
        "Zoe Allen",
        first_name="Zoe",
        last_name="Allen",
        email="zoe.allen@gmail.com",
        title="Owner",
    )
    ipm.add(
        C,
        "Allen, Zoë",
        first_name="Zoë",
        last_name="Allen",
        email="Zoe.Allen@gmail.com",
        title="CFO",
    )
    liscio.add(C, "Dan Brown", first_name="Dan", last_name="Brown")
    ipm.add(C, "Dana Browne", first_name="Dana", last_name="Browne")
    with Store.open(tmp_path / "state.sqlite") as store:
        run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
        yield liscio, ipm, store


def one(system, kind, name):
    (rec,) = system.by_name(kind, name)
    return rec


def decision(system, kind, name, verdict, **kw):
    rec = one(system, kind, name)
    return ReviewDecision(kind=kind, side=system.side, record_id=rec.id, verdict=verdict, **kw)


def test_bulk_preview_then_apply_is_one_run_and_undo_takes_it_back(world):
    liscio, ipm, store = world
    sources = load_sources(store=store, liscio=liscio, ipm=ipm)
    queue = build_queue(sources)
    elm_l, elm_i = one(liscio, A, "Elm Studios L.L.C."), one(ipm, A, "Elm Studios LLC")
    dan, dana = one(liscio, C, "Dan Brown"), one(ipm, C, "Dana Browne")
    shown = preview(
        [
            decision(liscio, A, "Elm Studios L.L.C.", Verdict.LINK),
            decision(liscio, C, "Dan Brown", Verdict.NOT_A_MATCH, link_to=dana.id),
            decision(liscio, C, "Zoe Allen", Verdict.CREATE),  # refused: same email
            decision(liscio, C, "Bob Stone", Verdict.CREATE),  # nothing like it in IPM
        ],
        queue=queue,
        sources=sources,
    )
    assert [r.name for r in shown.refused] == ["Zoe Allen"]
    assert "Allen, Zoë" in shown.refused[0].reason
    assert shown.counts()["links"] == 1 and shown.counts()["created_in_ipm"] == 1
    before_ipm = ipm.snapshot()
    progress: list[tuple[int, int]] = []
    result = apply_preview(
        shown,
        store=store,
        liscio=liscio,
        ipm=ipm,
        started_by="test",
        progress=lambda stage, done, total, msg: progress.append((done, total)),
    )
    assert result.outcome == "done" and not result.errors
    assert result.counts["linked"] == 1 and result.counts["created_in_ipm"] == 1
    assert result.counts["not_a_match"] == 1
    assert progress and progress[-1][0] == progress[-1][1]
    link = store.link_for(A, liscio_id=elm_l.id)
    assert (link.ipm_key, link.how) == (elm_i.id, LinkHow.MANUAL)
    assert ipm.get_record(A, elm_i.id).website == "elm.example"  # Liscio's value filled in
    assert liscio.get_record(A, elm_l.id).phone == "555-0500"
    assert len(ipm.by_name(C, "Bob Stone")) == 1 and not ipm.by_name(C, "Zoe Allen")
    assert any(
        d.decision is DecisionKind.NOT_A_MATCH and d.ipm_key == dana.id for d in store.decisions(C)
    )
    runs = store.runs()
    assert runs[-1]["command"] == "review" and runs[-1]["id"] == result.run_id

    undone = undo_run(store, result.run_id, liscio=liscio, ipm=ipm, started_by="test")
    assert undone.outcome == "done"
    assert store.link_for(A, liscio_id=elm_l.id) is None
    assert ipm.get_record(A, elm_i.id).website is None
    assert not any(
        d.decision is DecisionKind.NOT_A_MATCH for d in store.decisions(C) if d.liscio_id == dan.id
    )
    assert undone.counts["not_a_match_forgotten"] == 1
    assert "Bob Stone" in undone.plan.text()  # created records are listed: IPM cannot delete
    assert ipm.snapshot()[A] == {**before_ipm[A]}


def test_apply_refuses_what_was_decided_since_the_preview_and_honours_cancel(world):
    liscio, ipm, store = world
    sources = load_sources(store=store, liscio=liscio, ipm=ipm)
    queue = build_queue(sources)
    elm_l, elm_i = one(liscio, A, "Elm Studios L.L.C."), one(ipm, A, "Elm Studios LLC")
    shown = preview(
        [
            decision(liscio, A, "Elm Studios L.L.C.", Verdict.LINK),
            decision(liscio, C, "Bob Stone", Verdict.CREATE),
        ],
        queue=queue,
        sources=sources,
    )
    cancel = threading.Event()
    cancel.set()
    result = apply_preview(
        shown, store=store, liscio=liscio, ipm=ipm, started_by="test", cancel=cancel
    )
    assert result.outcome == "cancelled" and store.link_for(A, liscio_id=elm_l.id) is None
    assert store.runs()[-1]["outcome"] == "cancelled"
    operations.link(A, elm_l.id, elm_i.id, store=store, liscio=liscio, ipm=ipm)
    result = apply_preview(shown, store=store, liscio=liscio, ipm=ipm, started_by="test")
    assert [r.name for r in result.refused] == ["Elm Studios L.L.C."]
    assert "decided since the preview" in result.refused[0].reason
    assert result.counts["created_in_ipm"] == 1 and result.counts["linked"] == 0


def test_link_shows_its_writes_first_and_applies_only_those(world):
    liscio, ipm, store = world
    elm_l, elm_i = one(liscio, A, "Elm Studios L.L.C."), one(ipm, A, "Elm Studios LLC")
    shown = link_preview(A, elm_l.id, elm_i.id, liscio=liscio, ipm=ipm)
    assert shown.complete  # a fresh read has the IPM card: the address is decided too
    assert "IPM website: (empty) → elm.example" in shown.text()
    assert "Liscio address: (empty) → 5 Elm St" in shown.text()
    ipm.edit(A, elm_i.id, website="elm.example.org")  # someone edits IPM meanwhile
    with pytest.raises(PlanChanged) as caught:
        operations.link(A, elm_l.id, elm_i.id, store=store, liscio=liscio, ipm=ipm, expected=shown)
    assert "IPM website: elm.example.org → elm.example" in str(caught.value)
    assert elm_i.id not in str(caught.value) and store.link_for(A, liscio_id=elm_l.id) is None
    assert ipm.get_record(A, elm_i.id).website == "elm.example.org"  # nothing written
    operations.link(
        A, elm_l.id, elm_i.id, store=store, liscio=liscio, ipm=ipm, expected=caught.value.plan
    )
    assert ipm.get_record(A, elm_i.id).website == "elm.example"


def test_load_card_reads_a_missing_address_once(world):
    liscio, ipm, store = world
    row = next(r for r in store.cached_records(A) if r.name == "Elm Studios LLC")
    assert not row.details_complete
    loads = ipm.detail_loads
    card = load_card(A, row, ipm=ipm, store=store)
    assert card.details_complete and str(card.address) == "5 Elm St"
    assert ipm.detail_loads == loads + 1
    assert load_card(A, card, ipm=ipm, store=store) is card and ipm.detail_loads == loads + 1
    assert store.cached_details(A, [row.id])[row.id][0].address == card.address
    again = load_card(A, row, ipm=ipm, store=store)  # the list row again: the cache answers
    assert again.address == card.address and ipm.detail_loads == loads + 1


def test_create_is_refused_next_to_a_likely_duplicate_unless_anyway(world):
    liscio, ipm, store = world
    zoe = one(liscio, C, "Zoe Allen")
    with pytest.raises(DuplicateRisk) as caught:
        operations.create_in_ipm(C, zoe.id, store=store, liscio=liscio, ipm=ipm)
    message = str(caught.value)
    assert "Allen, Zoë" in message and "same email" in message and zoe.id not in message
    assert [d.name for d in caught.value.candidates] == ["Allen, Zoë"]
    assert len([r for r in ipm.records[C].values() if r.last_name == "Allen"]) == 1
    from pmtools.review import DuplicateFinder

    finder = DuplicateFinder(C, I, list(ipm.iter_records(C)))  # what the app holds already
    pulls = len(ipm.pulls)
    with pytest.raises(DuplicateRisk, match="Allen, Zoë"):
        operations.create_in_ipm(C, zoe.id, store=store, liscio=liscio, ipm=ipm, finder=finder)
    assert len(ipm.pulls) == pulls  # the finder spared listing IPM again
    made = operations.create_in_ipm(C, zoe.id, store=store, liscio=liscio, ipm=ipm, anyway=True)
    assert made.outcome == "done" and len(ipm.by_name(C, "Zoe Allen")) == 1
    dana = one(ipm, C, "Dana Browne")  # "Dan Brown" is a close spelling: asked first
    with pytest.raises(DuplicateRisk, match="Dan Brown"):
        operations.create_in_liscio(C, dana.id, store=store, liscio=liscio, ipm=ipm)
    cy = one(ipm, C, "Cy Young")  # nothing like it in Liscio: no question asked
    assert (
        operations.create_in_liscio(C, cy.id, store=store, liscio=liscio, ipm=ipm).outcome == "done"
    )


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_spreadsheet_round_trip(world, tmp_path, suffix):
    liscio, ipm, store = world
    queue = build_queue(load_sources(store=store, liscio=liscio, ipm=ipm))
    frame = to_frame(queue.select())
    assert list(frame.columns)[:9] == [
        "Kind",
        "Side",
        "Record ID",
        "Name",
        "Status",
        "Suggested ID",
        "Suggested Name",
        "Reason",
        "Score",
    ]
    assert set(frame["Decision"]) == {""}
    elm = frame.index[frame["Name"] == "Elm Studios L.L.C."][0]
    frame.loc[elm, "Decision"] = "link"
    frame.loc[frame["Name"] == "Dan Brown", "Decision"] = "Not a match"
    frame.loc[frame["Name"] == "Dan Brown", "Link To"] = one(ipm, C, "Dana Browne").id
    path = write_sheet(frame, tmp_path / f"review{suffix}")
    decisions, problems = parse_decisions(read_sheet(path))
    assert problems == []
    assert [(d.verdict, d.row) for d in decisions] == [
        (Verdict.LINK, elm + 2),
        (Verdict.NOT_A_MATCH, int(frame.index[frame["Name"] == "Dan Brown"][0]) + 2),
    ]


def test_a_previews_unread_cards_are_read_then_previewed_again(world):
    from pmtools.review import load_cards, unread_records, with_cards

    liscio, ipm, store = world
    sources = load_sources(store=store, liscio=liscio, ipm=ipm)
    queue = build_queue(sources)
    decisions = [decision(liscio, A, "Elm Studios L.L.C.", Verdict.LINK)]
    shown = preview(decisions, queue=queue, sources=sources)
    assert shown.counts()["fields_not_read"] == 1 and "not read yet" in shown.text()
    unread = unread_records(shown)
    assert [r.name for r in unread[A]] == ["Elm Studios LLC"]
    seen = []
    cards = load_cards(
        A, unread[A], ipm=ipm, store=store, progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(1, 1)] and str(next(iter(cards.values())).address) == "5 Elm St"
    sources = [with_cards(s, cards.values()) for s in sources]
    again = preview(decisions, queue=queue, sources=sources)
    assert again.counts()["fields_not_read"] == 0
    assert "Liscio address: (empty) → 5 Elm St" in again.text()
    stop = threading.Event()
    stop.set()
    assert load_cards(A, unread[A], ipm=ipm, cancel=stop) == {}
