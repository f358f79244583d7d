"""The hostile reply modes through ``pmtools sync``, over real loopback HTTP.

A hostile proxy (``hostile_proxy.py``) stands in front of the simulator and answers one path
with one mode. Each case starts from a state file that has had its first sync, with a change
in Liscio that is due to reach IPM, and asserts:

- the documented exit code (5: the run stopped; 1: done with record errors);
- one clear line for a person, naming the endpoint by its path (no host, no query, no secret,
  no traceback);
- nothing written to either service after the failed read, and the links as they were;
- nothing lost: with the proxy harmless again, the next sync writes the pending change.

Every hostile run is ``sync --full`` (or its dry run), so that every page is read. Deadlines
are settings (``PMTOOLS_REQUEST_DEADLINE``, ``PMTOOLS_MAX_PAGES``), set low here: the
trickle never ends,
and the test asserts the error, not a time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hostile_proxy as hp
import httpx
import pytest

from pmtools import config
from pmtools.cli import main
from pmtools.core.records import Kind
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import start_sandbox
from pmtools.store import Store

A = Kind.ACCOUNTS
PEOPLE = "/karbon/v3/Contacts"
ORGS = "/karbon/v3/Organizations"
CONTACTS = "/liscio/v1/contacts"
ACCOUNTS = "/liscio/v1/accounts"
SECRETS = (config.SANDBOX_LISCIO_TOKEN, config.SANDBOX_IPM_TOKEN, config.SANDBOX_IPM_ACCESS_KEY)
ENV = (
    "PMTOOLS_STATE",
    "PMTOOLS_LISCIO_URL",
    "PMTOOLS_LISCIO_TOKEN",
    "PMTOOLS_IPM_URL",
    "PMTOOLS_IPM_TOKEN",
    "PMTOOLS_IPM_ACCESS_KEY",
    "PMTOOLS_IPM_RATE_LIMIT",
    "PMTOOLS_REQUEST_DEADLINE",
    "PMTOOLS_RETRY_BUDGET",
    "PMTOOLS_MAX_PAGES",
)


def _env(mp: pytest.MonkeyPatch, proxy: hp.HostileProxy, state: Path) -> None:
    for var in ENV:
        mp.delenv(var, raising=False)
    mp.setenv("PMTOOLS_STATE", str(state))
    mp.setenv("PMTOOLS_LISCIO_URL", proxy.url + "/liscio")
    mp.setenv("PMTOOLS_IPM_URL", proxy.url + "/karbon")
    mp.setenv("PMTOOLS_LISCIO_TOKEN", config.SANDBOX_LISCIO_TOKEN)
    mp.setenv("PMTOOLS_IPM_TOKEN", config.SANDBOX_IPM_TOKEN)
    mp.setenv("PMTOOLS_IPM_ACCESS_KEY", config.SANDBOX_IPM_ACCESS_KEY)
    mp.setenv("PMTOOLS_IPM_RATE_LIMIT", "0")
    mp.setenv("PMTOOLS_REQUEST_DEADLINE", "2")  # the trickle never ends: only this stops it
    mp.setenv("PMTOOLS_MAX_PAGES", "10")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The simulator, the proxy in front of it, and a state file after a first sync."""
    server = start_sandbox(dataset=demo_dataset(organizations=12, people=20), rate_limit=0)
    proxy = hp.HostileProxy(server.url).start()
    template = tmp_path_factory.mktemp("hostile") / "first-sync.sqlite"
    try:
        with pytest.MonkeyPatch.context() as mp:
            _env(mp, proxy, template)
            assert main(["sync", "--force", "--json"]) in (0, 1)
        yield server, proxy, template
    finally:
        proxy.stop()
        server.stop()


@pytest.fixture
def case(world, tmp_path, monkeypatch):
    """A copy of the first-synced state file, and a Liscio phone change due to reach IPM."""
    server, proxy, template = world
    state = tmp_path / "state.sqlite"
    shutil.copy(template, state)
    _env(monkeypatch, proxy, state)
    with Store.open(state) as store:
        link = sorted(store.links(A), key=lambda link: link.liscio_id)[0]
    phone = f"555-{len(list(tmp_path.parent.iterdir())):04d}"
    liscio = httpx.Client(
        base_url=server.liscio_url,
        headers={"Authorization": f"Bearer {config.SANDBOX_LISCIO_TOKEN}"},
    )
    liscio.patch(f"/v1/accounts/{link.liscio_id}", json={"phone": phone}).raise_for_status()
    yield server, proxy, state, link, phone
    proxy.set()


def ipm_phone(server, key: str) -> str | None:
    reply = httpx.get(
        f"{server.ipm_url}/v3/Organizations/{key}",
        params={"$expand": "BusinessCards"},
        headers={
            "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
            "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
        },
    )
    cards = reply.json().get("BusinessCards") or []
    phones = [p.get("Number") for c in cards for p in c.get("PhoneNumbers") or []]
    return phones[0] if phones else None


def links_of(state: Path) -> list[tuple[str, str, str]]:
    with Store.open(state) as store:
        return sorted((link.liscio_id, link.ipm_key, str(link.status)) for link in store.links())


def person_line(err: str) -> str:
    """The one line ``main`` prints for a person (log lines aside)."""
    lines = [line for line in err.splitlines() if line.startswith("pmtools: ")]
    assert len(lines) == 1, err
    return lines[0]


def assert_clean(line: str, path: str) -> None:
    assert path in line, line
    for leak in ("127.0.0.1", "http://", "?", "Traceback", *SECRETS):
        assert leak not in line, (leak, line)


STOPPING = [
    pytest.param(
        PEOPLE,
        hp.endless_next_link,
        "announced 20 people|no record not listed",
        id="fresh-nextLink-forever",
    ),
    pytest.param(PEOPLE, hp.skip_ignored, "no record not listed", id="skip-ignored"),
    pytest.param(PEOPLE, hp.announced_count, "announced 150", id="more-pages-than-count"),
    pytest.param(CONTACTS, hp.endless_cursor, "no record not listed", id="endless-cursor"),
    pytest.param(CONTACTS, hp.fresh_items_forever, "more than 10 pages", id="page-ceiling"),
    pytest.param(PEOPLE, hp.trickle, "deadline", id="trickled-body"),
    pytest.param(ORGS, hp.gzip_bomb, "larger than 64 MB", id="gzip-bomb"),
    pytest.param(PEOPLE, hp.deep_nesting, "nested deeper", id="deep-nesting"),
    pytest.param(CONTACTS, hp.lone_surrogate, "lone surrogate", id="lone-surrogate-liscio"),
    pytest.param(PEOPLE, hp.lone_surrogate, "lone surrogate", id="lone-surrogate-ipm"),
    pytest.param(PEOPLE, hp.retry_after_forever, "retry budget", id="retry-after-999999"),
    pytest.param(ACCOUNTS, hp.not_json, "not JSON", id="html-not-json"),
    pytest.param(PEOPLE, hp.wrong_shape, "no 'value' list", id="page-of-wrong-shape"),
]


@pytest.mark.parametrize("path, mode, said", STOPPING)
@pytest.mark.parametrize("dry_run", [False, True], ids=["sync", "dry-run"])
def test_a_hostile_reply_stops_the_run_with_exit_5_and_nothing_written(
    case, capsys, path, mode, said, dry_run
):
    server, proxy, state, link, phone = case
    before = links_of(state)
    proxy.set(path, mode)
    code = main(["sync", "--full", "--json", *(["--dry-run"] if dry_run else [])])
    line = person_line(capsys.readouterr().err)
    assert code == 5, line
    assert_clean(line, path)
    assert re.search(said, line), line
    assert proxy.writes == []  # nothing written after the failed read
    assert links_of(state) == before
    with Store.open(state) as store:
        runs = store.runs()
        assert runs[-1]["outcome"] == ("done" if dry_run else "stopped")  # no run row: dry
    assert ipm_phone(server, link.ipm_key) != phone

    proxy.set()  # harmless again: the next sync catches up, nothing lost
    assert main(["sync", "--json"]) in (0, 1)
    assert ipm_phone(server, link.ipm_key) == phone


@pytest.mark.parametrize(
    "path, field, value, named",
    [
        (ORGS, "FullName", {"x": 1}, "with id"),
        (ACCOUNTS, "archived", "yes", "'"),
        (PEOPLE, "EmailAddress", ["a@b.example"], "'"),
    ],
)
def test_a_record_of_wrong_types_is_a_record_error_and_the_rest_syncs(
    case, capsys, path, field, value, named
):
    server, proxy, state, link, phone = case
    proxy.set(path, hp.wrong_types(field, value))
    code = main(["sync", "--full", "--json"])
    err = capsys.readouterr().err
    assert code == 1, err
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "cannot be read" in error and field in error and named in error
    assert "{'x': 1}" not in error and "Traceback" not in err
    with Store.open(state) as store:
        (saved,) = store.errors(run_id=store.runs()[-1]["id"])
        assert saved["op"] == "read"
    proxy.set()
    assert main(["sync", "--json"]) in (0, 1)
    assert ipm_phone(server, link.ipm_key) == phone  # nothing lost


def test_verbose_logs_show_no_user_info_or_secret_query_values(world, tmp_path):
    """``pmtools -v``: httpx's own request lines carried the URL whole (issue 8 §6)."""
    server, proxy, template = world
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMTOOLS_")} | {
        "PMTOOLS_STATE": str(tmp_path / "state.sqlite"),
        "PMTOOLS_LISCIO_URL": server.liscio_url.replace("http://", "http://user:pa55word@"),
        "PMTOOLS_IPM_URL": server.ipm_url,
        "PMTOOLS_IPM_RATE_LIMIT": "0",
        "PMTOOLS_LISCIO_TOKEN": config.SANDBOX_LISCIO_TOKEN,
        "PMTOOLS_IPM_TOKEN": config.SANDBOX_IPM_TOKEN,
        "PMTOOLS_IPM_ACCESS_KEY": config.SANDBOX_IPM_ACCESS_KEY,
    }
    done = subprocess.run(
        [sys.executable, "-c", "from pmtools.cli import entry; entry()", "-v", "sync", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert "HTTP Request: GET" in done.stderr  # httpx's lines are there, redacted
    for secret in ("pa55word", *SECRETS):
        assert secret not in done.stderr + done.stdout
