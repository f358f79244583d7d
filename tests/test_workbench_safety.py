"""Safety on single actions in the page: a create next to a likely duplicate is held back with
the candidates shown, a link shows its writes and applies them only on confirmation (and only
while they are still the same), and a run is undone from the page after its preview.

In-process against the bundled simulator over real HTTP, as ``test_workbench.py``.
"""

from __future__ import annotations

import pytest

from pmtools.config import Settings
from pmtools.core.records import Kind, Record, Side
from pmtools.workbench import Workbench, open_session

WAIT = 120
ZOE_EMAIL = "zoe.quillfeather@example.net"
STUDIO_LISCIO = "Quarrington Lumen Studios L.L.C."
STUDIO_IPM = "Quarrington Lumen Studios LLC"
TWIN_EMAIL = "b.kettering@example.net"


def _person(side, name, email, ext, first, last):
    return Record(
        side=side,
        kind=Kind.CONTACTS,
        id="",
        name=name,
        first_name=first,
        last_name=last,
        email=email,
    )


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The demo firm plus records that look like others on the other side; synced once."""
    state = tmp_path_factory.mktemp("safety") / "state.sqlite"
    session = open_session(Settings(state_path=state))
    lis, ipm = session.liscio, session.ipm
    lis.create_record(
        Kind.CONTACTS,
        _person(Side.LISCIO, "Zoe Quillfeather", ZOE_EMAIL, "", "Zoe", "Quillfeather"),
        external_id="s-zoe",
    )
    ipm.create_record(
        Kind.CONTACTS,
        _person(Side.IPM, "Zoë Quillfeather", ZOE_EMAIL, "", "Zoë", "Quillfeather"),
        external_id="s-zoe-ipm",
    )
    lis.create_record(
        Kind.CONTACTS,
        _person(Side.LISCIO, "Bartholomew Kettering", TWIN_EMAIL, "", "Bartholomew", "Kettering"),
        external_id="s-bk",
    )
    ipm.create_record(
        Kind.CONTACTS,
        _person(Side.IPM, "Barry Kettle", TWIN_EMAIL, "", "Barry", "Kettle"),
        external_id="s-bk-ipm",
    )
    lis.create_record(
        Kind.CONTACTS,
        _person(
            Side.LISCIO,
            "Bartholomew Kettering",
            "bk.other@example.net",
            "",
            "Bartholomew",
            "Kettering",
        ),
        external_id="s-bk2",
    )
    lis.create_record(
        Kind.ACCOUNTS,
        Record(
            side=Side.LISCIO,
            kind=Kind.ACCOUNTS,
            id="",
            name=STUDIO_LISCIO,
            website="www.lumen.example",
            phone="555-0161",
        ),
        external_id="s-studio",
    )
    ipm.create_record(
        Kind.ACCOUNTS,
        Record(
            side=Side.IPM,
            kind=Kind.ACCOUNTS,
            id="",
            name=STUDIO_IPM,
            website="www.old-lumen.example",
        ),
        external_id="s-studio-ipm",
    )
    wb = Workbench(session)
    wb.sync.sync_now.click()
    assert wb.sync.wait(WAIT)
    assert wb.sync.error is None, wb.sync.status.value
    wb.details.load()
    yield wb
    session.close()


def _select(tab, name, status):
    tab.status.value = status
    tab.search.value = name
    for i, row in enumerate(tab.page_rows):
        if name in (row["Liscio name"], row["IPM name"]):
            tab.select_row(i)
            return row
    pytest.fail(f"{name!r} is not {status}: {tab.page_rows}")


def test_create_in_ipm_next_to_a_same_email_record_is_held_back(app):
    store = app.session.store
    tab = app.details.tabs[Kind.CONTACTS]
    row = _select(tab, "Zoe Quillfeather", "unmatched in Liscio")
    runs = len(store.runs())
    tab.linking.create_ipm_button.click()
    box = tab.linking.confirm_text.value
    assert tab.linking.confirm_box.layout.display != "none"
    assert "pm-duplicates" in box and "Quillfeather" in box and "same email" in box
    assert "Not created yet" in box
    assert len(store.runs()) == runs  # nothing was written, not even a run
    assert store.link_for(Kind.CONTACTS, liscio_id=row["liscio_id"]) is None
    # Link instead: the candidate's writes are shown, then applied on confirmation.
    [(label, key)] = tab.linking.instead.options
    assert "Quillfeather" in label
    tab.linking.instead_button.click()
    assert "Linking" in tab.linking.confirm_text.value
    assert store.link_for(Kind.CONTACTS, liscio_id=row["liscio_id"]) is None
    tab.linking.confirm_button.click()
    assert "pm-msg-success" in tab.linking.result.value, tab.linking.result.value
    assert store.link_for(Kind.CONTACTS, liscio_id=row["liscio_id"]).ipm_key == key
    assert not [c for c in store.changes(op="create") if c.get("liscio_id") == row["liscio_id"]]


def test_create_anyway_creates_after_the_candidates_were_shown(app):
    store = app.session.store
    tab = app.details.tabs[Kind.CONTACTS]
    row = _select(tab, "Bartholomew Kettering", "unmatched in Liscio")
    tab.linking.create_ipm_button.click()
    assert "Barry Kettle" in tab.linking.confirm_text.value
    assert store.link_for(Kind.CONTACTS, liscio_id=row["liscio_id"]) is None
    tab.linking.anyway_button.click()
    assert "pm-msg-success" in tab.linking.result.value, tab.linking.result.value
    link = store.link_for(Kind.CONTACTS, liscio_id=row["liscio_id"])
    made = app.session.ipm.get_record(Kind.CONTACTS, link.ipm_key)
    assert made.email == TWIN_EMAIL and "Kettering" in made.name
    # The record just created is a likely duplicate for the next create too.
    tab.status.value = "unmatched in Liscio"
    tab.search.value = "Bartholomew Kettering"
    [other] = [i for i, r in enumerate(tab.page_rows) if r["Liscio email"] != TWIN_EMAIL]
    tab.select_row(other)
    tab.linking.create_ipm_button.click()
    table = tab.linking.confirm_text.value.split("pm-duplicates", 1)[1]
    assert "Bartholomew Kettering" in table and "same first and last name" in table
    tab.linking.dismiss_button.click()


def test_link_shows_its_writes_and_applies_only_what_was_shown_then_undo(app):
    s = app.session
    tab = app.details.tabs[Kind.ACCOUNTS]
    row = _select(tab, STUDIO_LISCIO, "unmatched in Liscio")
    assert tab.linking.target.label.startswith(STUDIO_IPM)
    ipm_key = tab.linking.target.value
    tab.linking.link_button.click()
    shown = tab.linking.confirm_text.value
    assert "www.old-lumen.example" in shown and "www.lumen.example" in shown  # before → after
    assert s.store.link_for(Kind.ACCOUNTS, liscio_id=row["liscio_id"]) is None
    assert s.ipm.get_record(Kind.ACCOUNTS, ipm_key).website == "www.old-lumen.example"
    # Liscio changes before the confirmation: nothing is written, the new writes are shown.
    s.liscio.update_fields(Kind.ACCOUNTS, row["liscio_id"], {"website": "www.lumen2.example"})
    tab.linking.confirm_button.click()
    assert s.store.link_for(Kind.ACCOUNTS, liscio_id=row["liscio_id"]) is None
    assert "changed since the preview" in tab.linking.result.value
    assert "www.lumen2.example" in tab.linking.confirm_text.value
    tab.linking.confirm_button.click()
    assert "pm-msg-success" in tab.linking.result.value, tab.linking.result.value
    assert s.ipm.get_record(Kind.ACCOUNTS, ipm_key).website == "www.lumen2.example"
    run_id = s.store.runs()[-1]["id"]

    runs = app.runs
    runs.show_button.click()
    assert runs.run_select.value == run_id
    assert "www.old-lumen.example" in runs.changes.value and STUDIO_LISCIO in runs.changes.value
    runs.undo_button.click()
    assert "put back" in runs.plan_view.value and "www.old-lumen.example" in runs.plan_view.value
    assert s.store.link_for(Kind.ACCOUNTS, liscio_id=row["liscio_id"]) is not None  # not yet
    runs.confirm_button.click()
    assert runs.wait(WAIT)
    assert "Undone" in runs.result.value, runs.result.value
    assert s.store.link_for(Kind.ACCOUNTS, liscio_id=row["liscio_id"]) is None
    assert s.ipm.get_record(Kind.ACCOUNTS, ipm_key).website == "www.old-lumen.example"
