"""The tenant guard: a state file synced with one firm refuses (exit 2) to work with another.

Two simulators with different seeds are two firms (each its own IPM TenantKey and Liscio
firm). After a first sync with firm A, pointing Liscio, IPM or both at firm B must refuse
before anything is read or planned, write nothing to either simulator nor to the state file,
and name both identities.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3

import pytest

from pmtools import config
from pmtools.cli import main
from pmtools.config import Settings
from pmtools.core.records import Kind
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import start_sandbox
from pmtools.store import Store

SMALL = {"organizations": 12, "people": 20}
WAIT = 120


@pytest.fixture
def firms(tmp_path, monkeypatch):
    """Firm A (seed 1) and firm B (seed 2), a state file, and the environment set for A."""
    for var in ("PMTOOLS_STATE", "PMTOOLS_LISCIO_URL", "PMTOOLS_IPM_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PMTOOLS_STATE", str(tmp_path / "state.sqlite"))
    monkeypatch.setenv("PMTOOLS_LISCIO_TOKEN", config.SANDBOX_LISCIO_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_TOKEN", config.SANDBOX_IPM_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_ACCESS_KEY", config.SANDBOX_IPM_ACCESS_KEY)
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "0")
    a = start_sandbox(dataset=demo_dataset(seed=1, **SMALL), seed=1, rate_limit=0)
    b = start_sandbox(dataset=demo_dataset(seed=2, **SMALL), seed=2, rate_limit=0)
    try:
        point(monkeypatch, liscio=a, ipm=a)
        yield a, b
    finally:
        a.stop()
        b.stop()


def point(monkeypatch, *, liscio, ipm) -> None:
    monkeypatch.setenv("PMTOOLS_LISCIO_URL", liscio.url + "/liscio")
    monkeypatch.setenv("PMTOOLS_IPM_URL", ipm.url + "/karbon")


def who(server) -> tuple[str, str]:
    """(Liscio firm name, IPM TenantKey) of a simulator."""
    return server.state.firm["name"], server.state.tenant["TenantKey"]


def state_rows(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("runs", "changes", "links", "ipm_cache", "errors")
        }


def first_sync_with_a(firms, capsys) -> None:
    assert main(["sync", "--force"]) in (0, 1)
    capsys.readouterr()


@pytest.mark.parametrize("wrong", ["liscio", "ipm", "both"])
def test_another_firm_is_refused_before_anything_is_read_or_written(
    firms, capsys, monkeypatch, wrong
):
    a, b = firms
    first_sync_with_a(firms, capsys)
    # A's Liscio changes after the first sync: a later sync would write it onto IPM records.
    before = {server: json.dumps(server.state.dump(), sort_keys=True) for server in (a, b)}
    rows = state_rows(Settings.from_env().state_path)
    asked = {server: server.stats.snapshot() for server in (a, b)}
    point(
        monkeypatch,
        liscio=b if wrong in ("liscio", "both") else a,
        ipm=b if wrong in ("ipm", "both") else a,
    )
    commands = (["sync"], ["sync", "--dry-run"], ["sync", "--full", "--force"])
    for argv in commands:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "nothing was read or written" in err and "disconnect --yes" in err
        assert err.count("\n") == 1  # one line, no traceback
        lisc_a, tenant_a = who(a)
        assert lisc_a in err and tenant_a in err  # the identities recorded
        if wrong in ("liscio", "both"):
            assert who(b)[0] in err
        if wrong in ("ipm", "both"):
            assert who(b)[1] in err
    for server in (a, b):
        assert json.dumps(server.state.dump(), sort_keys=True) == before[server]
        now = server.stats.snapshot()
        for side in ("ipm", "liscio"):  # who are you? — one request a command, no list read
            assert now.get(side, 0) - asked[server].get(side, 0) <= len(commands), side
    assert state_rows(Settings.from_env().state_path) == rows


def test_every_command_that_talks_to_a_service_is_guarded(firms, capsys, monkeypatch, tmp_path):
    a, b = firms
    first_sync_with_a(firms, capsys)
    with Store.open(Settings.from_env().state_path) as store:
        link = store.links(Kind.ACCOUNTS)[0]
        run_id = store.runs()[-1]["id"]
    other = b.state.all("accounts")[0]["id"]
    point(monkeypatch, liscio=b, ipm=a)
    before = json.dumps(b.state.dump(), sort_keys=True)
    for argv in (
        ["link", "accounts", other, link.ipm_key],
        ["create-in-ipm", "accounts", other],
        ["create-in-liscio", "accounts", link.ipm_key],
        ["undo", str(run_id)],
        ["explain", "accounts", "Acme"],
        ["report", "--kind", "accounts", "-o", str(tmp_path / "r.csv")],
    ):
        assert main(argv) == 2, argv
        assert "belongs to" in capsys.readouterr().err, argv
    assert json.dumps(b.state.dump(), sort_keys=True) == before
    assert not (tmp_path / "r.csv").exists()
    # Commands that talk to no service still work, and say which firm the file belongs to.
    capsys.readouterr()
    assert main(["status"]) == 0
    assert f"belongs to: Liscio firm {who(a)[0]!r}" in capsys.readouterr().out
    assert main(["runs"]) == 0


def test_disconnect_starts_over_with_the_other_firm(firms, capsys, monkeypatch):
    a, b = firms
    first_sync_with_a(firms, capsys)
    point(monkeypatch, liscio=b, ipm=b)
    assert main(["sync", "--force"]) == 2
    assert main(["disconnect", "--yes"]) == 0
    assert main(["sync", "--force"]) in (0, 1)
    with Store.open(Settings.from_env().state_path) as store:
        assert {str(i) for i in store.identities().values()} == {
            f"Liscio firm {who(b)[0]!r} ({b.state.firm['id']})",
            f"IPM tenant {who(b)[1]}",
        }
    point(monkeypatch, liscio=a, ipm=a)
    assert main(["sync"]) == 2  # now A is the other firm


def test_a_state_file_from_before_identities_records_them_with_a_warning(
    firms, capsys, monkeypatch, caplog
):
    a, b = firms
    first_sync_with_a(firms, capsys)
    path = Settings.from_env().state_path
    with sqlite3.connect(path) as db:  # as an older pmtools left it: no identities
        db.execute(
            "UPDATE connection SET liscio_firm_id = NULL, liscio_firm_name = NULL, "
            "ipm_tenant_key = NULL"
        )
    with caplog.at_level(logging.WARNING, logger="pmtools.engine.tenant"):
        assert main(["sync"]) in (0, 1)
    assert "could not be checked" in caplog.text and who(a)[1] in caplog.text
    with Store.open(path) as store:
        assert store.identities()
    point(monkeypatch, liscio=b, ipm=a)
    assert main(["sync"]) == 2


def test_a_first_manual_link_binds_the_state_file_too(firms, capsys, monkeypatch):
    a, b = firms
    account = a.state.all("accounts")[0]["id"]
    org = a.state.all("organizations")[0]["OrganizationKey"]
    assert main(["link", "accounts", account, org]) == 0
    point(monkeypatch, liscio=b, ipm=b)
    assert main(["sync", "--dry-run"]) == 2
    assert who(a)[0] in capsys.readouterr().err


def test_the_workbench_shows_the_refusal_in_words(firms, capsys, tmp_path):
    from pmtools.workbench import Workbench, open_session

    a, b = firms
    first_sync_with_a(firms, capsys)
    settings = dataclasses.replace(Settings.from_env(), liscio_url=b.url + "/liscio")
    session = open_session(settings)
    try:
        app = Workbench(session)
        runs = len(session.store.runs())
        app.sync.sync_now.click()
        assert app.sync.wait(WAIT)
        text = app.sync.status.value
        assert who(a)[0] in text and who(b)[0] in text and "disconnect" in text
        assert "Traceback" not in text and len(session.store.runs()) == runs
        app.details.show_button.click()
        assert who(b)[0] in app.details.message.value
        app.connection.test_button.click()
        assert (
            who(b)[0] in app.connection.result.value
            and "pm-msg-error" in app.connection.result.value
        )
    finally:
        session.close()


class _WhoAmI:
    """A service that answers only "who are you?" — with ``body`` (a hostile one, in tests)."""

    def __init__(self, body: object) -> None:
        self.body = body

    def __call__(self, request):
        import httpx

        return httpx.Response(200, json=self.body)


@pytest.mark.parametrize("body", [{}, {"TenantKey": 5}, {"TenantKey": " "}, ["2Bzm"]])
def test_an_ipm_tenant_without_a_key_is_a_malformed_reply(body):
    import httpx

    from pmtools.connectors.karbon import IpmConnector
    from pmtools.errors import ServiceError

    ipm = IpmConnector(
        "https://ipm.example/karbon",
        "t",
        "k",
        rate_limit=0,
        transport=httpx.MockTransport(_WhoAmI(body)),
    )
    with pytest.raises(ServiceError, match="TenantKey|not a JSON object"):
        ipm.identity()


@pytest.mark.parametrize("body", [{"name": "No Id CPAs"}, {"id": ""}, {"id": 7}, "firm"])
def test_a_liscio_firm_without_an_id_is_a_malformed_reply(body):
    import httpx

    from pmtools.connectors.liscio import LiscioConnector
    from pmtools.errors import ServiceError

    liscio = LiscioConnector(
        "https://liscio.example", "t", transport=httpx.MockTransport(_WhoAmI(body))
    )
    with pytest.raises(ServiceError, match="has no id|not a JSON object"):
        liscio.identity()


def test_identities_are_read_from_the_contract():
    import httpx

    from pmtools.connectors.karbon import IpmConnector
    from pmtools.connectors.liscio import LiscioConnector

    liscio = LiscioConnector(
        "https://liscio.example",
        "t",
        transport=httpx.MockTransport(_WhoAmI({"id": "firm_1", "name": " Alder CPAs "})),
    )
    ipm = IpmConnector(
        "https://ipm.example/karbon",
        "t",
        "k",
        rate_limit=0,
        transport=httpx.MockTransport(_WhoAmI({"TenantKey": "K1"})),
    )
    assert str(liscio.identity()) == "Liscio firm 'Alder CPAs' (firm_1)"
    assert str(ipm.identity()) == "IPM tenant K1"
