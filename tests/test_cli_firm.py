"""``pmtools firm …`` and ``--firm`` through ``pmtools.cli.main``, against real simulators over
loopback HTTP (two seeds: two tenants), with real state files, registry and secrets file."""

import io
import json
import logging
import shutil
import sys

import keyring
import pytest
from test_firms import MemoryKeyring

from pmtools.cli import main
from pmtools.core.records import Side
from pmtools.sandbox.app import Credentials
from pmtools.store import Store
from pmtools.store.backend import backend_from_env
from pmtools.store.secrets import FileSecrets, FirmSecrets

SERVICE_VARS = (
    "PMTOOLS_FIRM",
    "PMTOOLS_STATE",
    "PMTOOLS_LISCIO_URL",
    "PMTOOLS_LISCIO_TOKEN",
    "PMTOOLS_IPM_URL",
    "PMTOOLS_IPM_TOKEN",
    "PMTOOLS_IPM_ACCESS_KEY",
    "PMTOOLS_IPM_RATE_LIMIT",
    "PMTOOLS_SIMULATOR",
)


def _creds(tag):
    return Credentials(
        liscio_token=f"lis-{tag}-S3CR3T",
        ipm_token=f"ipm-app-{tag}-S3CR3T",
        ipm_access_key=f"ipm-key-{tag}-S3CR3T",
    )


def _serve(seed, tag):
    from pmtools.sandbox.dataset import demo_dataset
    from pmtools.sandbox.server import start_sandbox

    server = start_sandbox(
        dataset=demo_dataset(seed=seed, organizations=12, people=20),
        seed=seed,
        rate_limit=0,
        credentials=_creds(tag),
    )
    server.creds = _creds(tag)
    return server


@pytest.fixture
def home(pmtools_home, monkeypatch, caplog):
    for var in SERVICE_VARS:
        monkeypatch.delenv(var, raising=False)
    caplog.set_level(logging.DEBUG)
    return pmtools_home


@pytest.fixture
def sandbox_a(home):
    server = _serve(1, "A")
    yield server
    server.stop()


@pytest.fixture
def sandbox_b(home):
    server = _serve(2, "B")
    yield server
    server.stop()


def _stdin(monkeypatch, text):
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def _add(monkeypatch, name, server, *extra, creds=None):
    """``firm add`` with the keys typed at the prompts (stdin), URLs as flags."""
    c = creds or server.creds
    _stdin(monkeypatch, f"{c.ipm_token}\n{c.ipm_access_key}\n{c.liscio_token}\n")
    return main(
        [
            "firm",
            "add",
            name,
            "--ipm-url",
            server.url + "/karbon",
            "--liscio-url",
            server.url + "/liscio",
            "--rate-limit",
            "0",
            *extra,
        ]
    )


def _tenant(server):
    return server.state.tenant["TenantKey"]


def _all_bytes(home):
    """Every file under PMTOOLS_HOME but the secrets file."""
    return b"".join(
        p.read_bytes() for p in home.rglob("*") if p.is_file() and p.name != "secrets.json"
    )


def _no_secret_anywhere(home, *texts):
    assert b"S3CR3T" not in _all_bytes(home)
    for text in texts:
        assert "S3CR3T" not in text


def test_add_list_show_test_sync_remove_round_trip(home, sandbox_a, monkeypatch, capsys, caplog):
    assert _add(monkeypatch, "Acme & Sons", sandbox_a) == 0
    out = capsys.readouterr()
    assert "added Acme & Sons" in out.out and _tenant(sandbox_a) in out.out
    # what to do next: the forecast before a first sync that may take hours
    assert "`pmtools --firm 'Acme & Sons' sync --forecast`" in out.out
    assert "owner-only" in out.out
    secrets = home / "secrets.json"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert json.loads(secrets.read_text())["firms"]["acme-sons"]["ipm_token"] == "ipm-app-A-S3CR3T"
    # the state is bound to the tenant at once, and the registry knows both identities
    state = home / "firms" / "acme-sons" / "state.sqlite"
    with Store.open(state) as store:
        assert store.identities()[Side.IPM].id == _tenant(sandbox_a)
    with backend_from_env().registry() as registry:
        firm = registry.get_firm("acme & sons")
        assert _tenant(sandbox_a) in firm.ipm_identity and firm.liscio_identity

    assert main(["firm", "list"]) == 0
    listing = capsys.readouterr().out
    assert "Acme & Sons" in listing and _tenant(sandbox_a) in listing and "none yet" in listing

    assert main(["firm", "show", "ACME & SONS"]) == 0
    shown = capsys.readouterr().out
    assert "stored in" in shown and "secrets.json (owner-only)" in shown and str(state) in shown

    assert main(["firm", "test", "Acme & Sons"]) == 0
    assert "its state is theirs" in capsys.readouterr().out

    # every command takes --firm: the keys come from the secrets file, not the environment
    assert main(["--firm", "Acme & Sons", "sync", "--json"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["linked"] > 0
    with Store.open(state) as store:
        assert len(store.links()) == counts["linked"]
    monkeypatch.setenv("PMTOOLS_FIRM", "acme-sons")  # the variable names it too
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["connected"] is True
    monkeypatch.delenv("PMTOOLS_FIRM")
    assert main(["--firm", "Acme & Sons", "runs"]) == 0
    capsys.readouterr()

    # remove asks first; "no" keeps everything, and so does no answer at all
    _stdin(monkeypatch, "")
    assert main(["firm", "remove", "Acme & Sons"]) == 2
    assert "confirm with `pmtools firm remove 'Acme & Sons' --yes`" in capsys.readouterr().err
    _stdin(monkeypatch, "n\n")
    assert main(["firm", "remove", "Acme & Sons"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    assert main(["firm", "remove", "Acme & Sons", "--yes"]) == 0
    assert "its state stays in" in capsys.readouterr().out
    assert state.exists()  # kept
    assert json.loads(secrets.read_text())["firms"] == {}
    assert main(["--firm", "Acme & Sons", "status"]) == 2
    assert "registered: none yet" in capsys.readouterr().err
    out = capsys.readouterr()
    _no_secret_anywhere(home, out.out, out.err, caplog.text)


def test_two_firms_on_two_tenants_each_sync_into_their_own_state(
    home, sandbox_a, sandbox_b, monkeypatch, capsys, caplog
):
    assert _add(monkeypatch, "Alpha", sandbox_a) == 0
    assert _add(monkeypatch, "Bravo", sandbox_b) == 0
    assert main(["--firm", "alpha", "sync", "--json"]) == 0
    assert main(["--firm", "bravo", "sync", "--json"]) == 0
    texts = capsys.readouterr()
    backend = backend_from_env()
    for slug, server in (("alpha", sandbox_a), ("bravo", sandbox_b)):
        with backend.open_store(slug) as store:
            assert store.identities()[Side.IPM].id == _tenant(server)
            assert store.links() and store.runs()[-1]["command"] == "sync"
    assert _tenant(sandbox_a) != _tenant(sandbox_b)
    assert main(["firm", "list"]) == 0
    listing = capsys.readouterr().out
    assert _tenant(sandbox_a) in listing and _tenant(sandbox_b) in listing
    assert "sync" not in listing.split("Alpha")[0]  # a header, then one line a firm

    # never two firms on one state: --state with a firm is refused …
    other = str(backend.store_path("bravo"))
    assert main(["--firm", "alpha", "--state", other, "sync"]) == 2
    assert "--firm and --state cannot be used together" in capsys.readouterr().err
    # … and Bravo's state put in Alpha's place is refused by the tenant guard
    alpha = backend.store_path("alpha")
    for suffix in ("", ".id"):
        shutil.copyfile(str(backend.store_path("bravo")) + suffix, str(alpha) + suffix)
    for suffix in ("-wal", "-shm"):
        (alpha.parent / (alpha.name + suffix)).unlink(missing_ok=True)
    assert main(["--firm", "alpha", "sync"]) == 2
    err = capsys.readouterr().err
    assert "the state of the firm 'alpha' belongs to" in err and _tenant(sandbox_b) in err
    assert "nothing was read or written" in err and "`pmtools firm show alpha`" in err
    assert "--state" not in err and "PMTOOLS_" not in err
    assert main(["firm", "test", "alpha"]) == 2
    _no_secret_anywhere(home, texts.out, texts.err, err, caplog.text)


def test_new_keys_must_reach_the_firm_the_state_belongs_to(
    home, sandbox_a, sandbox_b, monkeypatch, capsys
):
    assert _add(monkeypatch, "Alpha", sandbox_a) == 0
    assert _add(monkeypatch, "Bravo", sandbox_b) == 0
    capsys.readouterr()
    before = FileSecrets(home / "secrets.json").get("alpha")
    # Alpha re-keyed with Bravo's URLs and keys: refused, nothing changed
    assert _add(monkeypatch, "Alpha", sandbox_b, "--update") == 2
    assert "belongs to" in capsys.readouterr().err
    assert FileSecrets(home / "secrets.json").get("alpha") == before
    # the same firm registered twice under two names would create its records twice
    assert _add(monkeypatch, "Alpha again", sandbox_a) == 2
    assert "registered already as the firm 'Alpha'" in capsys.readouterr().err
    assert main(["firm", "show", "Alpha again"]) == 2


def test_wrong_keys_at_add_register_nothing(home, sandbox_a, monkeypatch, capsys, caplog):
    wrong = Credentials(
        liscio_token="lis-A-S3CR3T", ipm_token="ipm-app-A-S3CR3T", ipm_access_key="wrong-S3CR3T"
    )
    assert _add(monkeypatch, "Acme", sandbox_a, creds=wrong) == 2
    err = capsys.readouterr().err
    assert "IPM refused the keys given for 'Acme'" in err and "nothing was registered" in err
    assert "firm add Acme" in err and "\n" not in err.strip()
    with backend_from_env().registry() as registry:
        assert registry.list_firms() == []
    assert not (home / "secrets.json").exists()
    assert not (home / "firms").exists()
    _no_secret_anywhere(home, err, caplog.text)


def test_an_unreachable_service_at_add_registers_nothing(home, sandbox_a, monkeypatch, capsys):
    url = sandbox_a.url
    sandbox_a.stop()
    monkeypatch.setenv("PMTOOLS_RETRY_BUDGET", "1")  # the limits apply to the check too
    _stdin(monkeypatch, "a\nb\nc\n")
    code = main(["firm", "add", "Acme", "--ipm-url", url + "/karbon", "--liscio-url", url])
    assert code == 5
    assert "nothing was registered" in capsys.readouterr().err
    with backend_from_env().registry() as registry:
        assert registry.list_firms() == []


def test_keys_from_the_environment_and_no_key_is_no_firm(home, sandbox_a, monkeypatch, capsys):
    c = sandbox_a.creds
    monkeypatch.setenv("PMTOOLS_IPM_TOKEN", c.ipm_token)
    monkeypatch.setenv("PMTOOLS_IPM_ACCESS_KEY", c.ipm_access_key)
    monkeypatch.setenv("PMTOOLS_LISCIO_TOKEN", c.liscio_token)
    monkeypatch.setenv("PMTOOLS_IPM_URL", sandbox_a.url + "/karbon")
    monkeypatch.setenv("PMTOOLS_LISCIO_URL", sandbox_a.url + "/liscio")
    _stdin(monkeypatch, "")  # nothing is asked
    assert main(["firm", "add", "Acme"]) == 0
    for var in SERVICE_VARS:
        monkeypatch.delenv(var, raising=False)
    _stdin(monkeypatch, "\n")  # the IPM URL's default (Karbon), then no Liscio URL
    assert main(["firm", "add", "Other"]) == 2
    assert "no Liscio API URL was given" in capsys.readouterr().err
    _stdin(monkeypatch, "")  # no application id typed
    code = main(["firm", "add", "Other", "--ipm-url", "http://x", "--liscio-url", "http://y"])
    assert code == 2
    assert "no IPM application id was given; nothing was registered" in capsys.readouterr().err
    with backend_from_env().registry() as registry:
        assert [f.name for f in registry.list_firms()] == ["Acme"]


def test_secrets_are_never_flags(home):
    assert main(["firm", "add", "Acme", "--ipm-token", "x"]) == 2
    assert main(["firm", "add", "Acme", "--liscio-token", "x"]) == 2


def test_odd_names(home, sandbox_a, sandbox_b, monkeypatch, capsys):
    name = 'O\'Brien "Tax" & Søn 株式会社'
    assert _add(monkeypatch, name, sandbox_a) == 0
    assert main(["--firm", 'o\'brien "TAX" & søn 株式会社', "status"]) == 0
    assert main(["firm", "list"]) == 0
    assert name in capsys.readouterr().out
    assert _add(monkeypatch, "x" * 81, sandbox_b) == 2
    assert "at most 80 characters" in capsys.readouterr().err
    assert _add(monkeypatch, "Environment", sandbox_b) == 2
    assert "reserved" in capsys.readouterr().err
    assert _add(monkeypatch, "Environment Partners", sandbox_b) == 0  # a name, not the key
    assert main(["firm", "remove", "environment partners", "--yes"]) == 0
    assert _add(monkeypatch, "y" * 80, sandbox_b) == 0
    with backend_from_env().registry() as registry:
        assert len(registry.list_firms()) == 2


def test_an_unknown_firm_names_the_registered_ones(home, sandbox_a, monkeypatch, capsys):
    assert _add(monkeypatch, "Acme", sandbox_a) == 0
    capsys.readouterr()
    assert main(["--firm", "Acmee", "sync"]) == 2
    err = capsys.readouterr().err
    assert "no firm named 'Acmee' is registered (registered: Acme)" in err
    for command in (["firm", "show", "Nope"], ["firm", "test", "Nope"], ["firm", "remove", "N"]):
        assert main(command) == 2


def test_the_keyring_keeps_the_keys_and_a_wiped_keyring_says_how_to_rekey(
    home, sandbox_a, monkeypatch, capsys, caplog
):
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        assert _add(monkeypatch, "Acme", sandbox_a) == 0
        assert "stored in the OS keyring" in capsys.readouterr().out
        assert not (home / "secrets.json").exists()
        assert ("pmtools", "acme") in ring.passwords
        assert main(["firm", "show", "Acme"]) == 0
        assert "stored in the OS keyring" in capsys.readouterr().out
        ring.passwords.clear()  # the keyring was reset
        assert main(["--firm", "Acme", "sync"]) == 2
        err = capsys.readouterr().err
        assert "keys of the firm 'Acme' are missing" in err and "firm add Acme --update" in err
        assert _add(monkeypatch, "Acme", sandbox_a, "--update") == 0
        assert main(["--firm", "Acme", "sync"]) == 0
        out = capsys.readouterr()
        assert main(["firm", "remove", "Acme", "--yes", "--delete-state"]) == 0
        assert ring.passwords == {}
        assert not (home / "firms" / "acme").exists()
    finally:
        keyring.set_keyring(before)
    _no_secret_anywhere(home, out.out, out.err, caplog.text)


def test_refused_keys_of_a_registered_firm_say_how_to_rekey(home, sandbox_a, monkeypatch, capsys):
    assert _add(monkeypatch, "Acme", sandbox_a) == 0
    FileSecrets(home / "secrets.json").put(
        "acme", FirmSecrets(ipm_token="a", ipm_access_key="b", liscio_token="c")
    )
    capsys.readouterr()
    assert main(["--firm", "Acme", "sync"]) == 2
    err = capsys.readouterr().err
    assert "refused the keys of the firm 'Acme'" in err and "firm add Acme --update" in err
    assert main(["firm", "test", "Acme"]) == 2


def test_schedules(home, sandbox_a, monkeypatch, capsys):
    assert _add(monkeypatch, "Acme", sandbox_a) == 0
    assert main(["firm", "schedule", "Acme", "--every", "2h"]) == 0
    assert "every 2 hours" in capsys.readouterr().out
    with backend_from_env().registry() as registry:
        assert registry.get_firm("acme").schedule_minutes == 120
    assert main(["firm", "list"]) == 0
    assert "every 2 hours" in capsys.readouterr().out
    assert main(["firm", "schedule", "Acme", "--every", "45"]) == 0
    assert main(["firm", "schedule", "Acme", "--every", "off"]) == 0
    with backend_from_env().registry() as registry:
        assert registry.get_firm("acme").schedule_minutes is None
    for bad in ("0m", "soon", "-5"):
        assert main(["firm", "schedule", "Acme", "--every", bad]) == 2


def test_firm_list_with_no_firms(home, capsys):
    assert main(["firm", "list"]) == 0
    assert "no firms registered yet" in capsys.readouterr().out
    assert main(["firm", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_a_kept_state_serves_the_same_firm_again_and_no_other(
    home, sandbox_a, sandbox_b, monkeypatch, capsys
):
    assert _add(monkeypatch, "Alpha", sandbox_a) == 0
    assert main(["--firm", "Alpha", "sync"]) == 0
    with backend_from_env().open_store("alpha") as store:
        links = len(store.links())
    assert main(["firm", "remove", "Alpha", "--yes"]) == 0  # the state is kept
    capsys.readouterr()
    # the name again on another tenant: its kept state refuses, and nothing is registered
    assert _add(monkeypatch, "Alpha", sandbox_b) == 2
    assert "belongs to" in capsys.readouterr().err
    with backend_from_env().registry() as registry:
        assert registry.list_firms() == []
    assert FileSecrets(home / "secrets.json").get("alpha") is None
    # the same firm again: its links are still there
    assert _add(monkeypatch, "Alpha", sandbox_a) == 0
    with backend_from_env().open_store("alpha") as store:
        assert len(store.links()) == links


def test_the_listing_shows_the_running_job_and_the_last_one(home, sandbox_a, monkeypatch, capsys):
    assert _add(monkeypatch, "Acme", sandbox_a) == 0
    with backend_from_env().registry() as registry:
        job = registry.submit("acme", "sync", started_by="cli")
        registry.claim(job.id, "w1")
        registry.progress(job.id, stage="fetch", done=40, total=200)
    capsys.readouterr()
    assert main(["firm", "list"]) == 0
    assert "sync running 40/200 since" in capsys.readouterr().out
    # not while its job runs: exit 4 (README: the firm has a job queued or running), in words
    # for a removal, not a sync's "already running"
    assert main(["firm", "remove", "Acme", "--yes"]) == 4
    err = capsys.readouterr().err
    assert "Acme has a sync running (started by cli), so nothing was removed" in err
    assert "`pmtools jobs cancel --firm Acme`" in err and "already" not in err
    with backend_from_env().registry() as registry:
        assert registry.get_firm("acme").name == "Acme"
    with backend_from_env().registry() as registry:
        registry.finish(job.id, state="done", outcome="done")
    assert main(["firm", "show", "Acme"]) == 0
    assert "sync done" in capsys.readouterr().out
    assert main(["firm", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["last_job"]["state"] == "done" and "S3CR3T" not in json.dumps(row)


def test_a_firm_whose_service_is_down_exits_5_naming_the_firm(home, sandbox_a, monkeypatch, capsys):
    assert _add(monkeypatch, "Acme", sandbox_a) == 0
    sandbox_a.stop()
    capsys.readouterr()
    assert main(["firm", "test", "Acme"]) == 5
    err = capsys.readouterr().err
    assert "could not reach" in err and "URL of the firm 'Acme' (`pmtools firm show`)" in err
    assert "PMTOOLS_" not in err


def test_the_workbench_opens_the_firm_pmtools_firm_names(home, sandbox_a, monkeypatch):
    """What `pmtools app --firm NAME` gives the page: PMTOOLS_FIRM, not the keys."""
    from pmtools.workbench.session import open_session

    assert _add(monkeypatch, "Acme", sandbox_a) == 0
    monkeypatch.setenv("PMTOOLS_FIRM", "Acme")
    monkeypatch.setenv("PMTOOLS_LISCIO_URL", "http://127.0.0.1:9/another-firm")  # ignored
    session = open_session()
    try:
        assert session.sandbox is None and session.settings.firm == "acme"
        assert session.settings.liscio_url == sandbox_a.url + "/liscio"
        assert session.store.path == home / "firms" / "acme" / "state.sqlite"
    finally:
        session.close()


def test_a_reader_that_goes_away_is_no_unexpected_error(home, monkeypatch, capsys):
    # `pmtools firm list | head -1` with more lines than head reads: no "unexpected error
    # (BrokenPipeError); the run was marked failed" for a command that runs nothing
    class GoneReader(io.StringIO):
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", GoneReader())
    assert main(["firm", "list"]) == 141
    assert capsys.readouterr().err == ""
