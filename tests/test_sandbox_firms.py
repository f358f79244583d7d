"""Many firms in one simulator: ``start_sandbox(firms=N)`` and ``pmtools sandbox --firms N``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest

from pmtools import config
from pmtools.sandbox.dataset import load_dataset, small_dataset
from pmtools.sandbox.server import start_sandbox

IPM = {
    "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
    "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
}
LISCIO = {"Authorization": f"Bearer {config.SANDBOX_LISCIO_TOKEN}"}


def identity(server, index: int) -> tuple[str, str]:
    ipm_url, liscio_url = server.firm_urls(index)
    tenant = httpx.get(f"{ipm_url}/v3/TenantSettings", headers=IPM)
    firm = httpx.get(f"{liscio_url}/v1/firm", headers=LISCIO)
    assert tenant.status_code == 200 and firm.status_code == 200
    return tenant.json()["TenantKey"], firm.json()["id"]


def org_names(ipm_url: str) -> list[str]:
    reply = httpx.get(f"{ipm_url}/v3/Organizations", headers=IPM, params={"$top": 100})
    assert reply.status_code == 200
    return sorted(row["FullName"] for row in reply.json()["value"])


def test_the_small_firm_is_a_tenth_of_the_demo_with_its_own_identity() -> None:
    small = small_dataset(seed=1)
    assert len(small["organizations"]) == 31  # 30 and the one named like markup
    assert len(small["people"]) == 90
    assert 20 <= len(small["accounts"]) <= 40 and 60 <= len(small["contacts"]) <= 110
    demo = load_dataset("demo", seed=1)
    assert small["tenant"]["TenantKey"] != demo["tenant"]["TenantKey"]
    assert small_dataset(seed=2)["tenant"]["TenantKey"] != small["tenant"]["TenantKey"]
    assert len(load_dataset("small", seed=1, scale=2)["people"]) == 180


def test_each_firm_has_its_own_identity_records_and_counters() -> None:
    with start_sandbox(dataset="small", firms=3, rate_limit=0) as server:
        assert server.firms.built_firm(1) is None and server.firms.built_firm(2) is None
        firms = [identity(server, i) for i in range(3)]
        assert len({tenant for tenant, _ in firms}) == 3
        assert len({firm for _, firm in firms}) == 3
        # firm 0 answers at the top and under /firms/0, the same records
        assert org_names(server.ipm_url) == org_names(f"{server.url}/firms/0/karbon")
        names = [org_names(server.firm_urls(i)[0]) for i in range(3)]
        assert names[0] != names[1] != names[2] != names[0]
        assert server.firm_state(1).count("people") == 90
        counts = [server.firm_stats(i).snapshot() for i in range(3)]
        # firm 0: TenantSettings and three lists; firms 1 and 2: TenantSettings and one list
        assert [c.get("ipm", 0) for c in counts] == [4, 2, 2]
        assert [c.get("liscio", 0) for c in counts] == [1, 1, 1]
        assert server.firm_urls(2) == (
            f"{server.url}/firms/2/karbon",
            f"{server.url}/firms/2/liscio",
        )
        missing = httpx.get(f"{server.url}/firms/3/karbon/v3/TenantSettings", headers=IPM)
        assert missing.status_code == 404
        with pytest.raises(IndexError):
            server.firm_urls(3)


def test_each_firm_has_its_own_rate_limit() -> None:
    with start_sandbox(dataset="empty", firms=3, rate_limit=2) as server:
        one, two = server.firm_urls(1)[0], server.firm_urls(2)[0]
        statuses = [
            httpx.get(f"{one}/v3/TenantSettings", headers=IPM).status_code for _ in range(3)
        ]
        assert statuses == [200, 200, 429]
        assert httpx.get(f"{two}/v3/TenantSettings", headers=IPM).status_code == 200
        assert httpx.get(f"{server.ipm_url}/v3/TenantSettings", headers=IPM).status_code == 200
        # a dataset that does not come from the seed still gives each firm its own identity
        assert len({identity(server, i)[0] for i in (0, 2)}) == 2


def test_faults_set_while_running_reach_firms_built_later() -> None:
    with start_sandbox(dataset="empty", firms=2, rate_limit=0) as server:
        server.set_faults("500=1")
        ipm_url, _ = server.firm_urls(1)
        assert httpx.get(f"{ipm_url}/v3/TenantSettings", headers=IPM).status_code == 500
        server.set_faults(None)
        assert httpx.get(f"{ipm_url}/v3/TenantSettings", headers=IPM).status_code == 200


def test_each_firm_persists_to_its_own_file(tmp_path) -> None:
    db = tmp_path / "sim.sqlite"
    with start_sandbox(dataset="small", firms=2, rate_limit=0, db=db) as server:
        before = identity(server, 1)
        names = org_names(server.firm_urls(1)[0])
    assert (tmp_path / "sim.firm1.sqlite").is_file()
    with start_sandbox(dataset="small", seed=5, firms=2, rate_limit=0, db=db) as server:
        assert identity(server, 1) == before  # served from the file, not from the new seed
        assert org_names(server.firm_urls(1)[0]) == names


def test_cli_prints_the_first_firms_and_how_the_rest_are_formed() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pmtools.cli import entry; entry()",
            "sandbox",
            "--dataset",
            "small",
            "--firms",
            "1000",
            "--rate-limit",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        first = proc.stdout.readline()
        match = re.fullmatch(r"pmtools sandbox listening on (http://127\.0\.0\.1:\d+) .*\n", first)
        assert match, first
        url = match.group(1)
        lines = [proc.stdout.readline() for _ in range(4)]
        assert lines[0] == f"firm 1: IPM {url}/firms/1/karbon, Liscio {url}/firms/1/liscio\n"
        assert lines[2].startswith("firm 3: ")
        assert lines[3].startswith(
            f"firms 0 to 999: IPM {url}/firms/<i>/karbon, Liscio {url}/firms/<i>/liscio"
        )
        reply = httpx.get(f"{url}/firms/999/karbon/v3/TenantSettings", headers=IPM, timeout=30)
        assert reply.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_a_firm_count_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        start_sandbox(dataset="empty", firms=0)


def _start_cli(*args: str) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pmtools.cli import entry; entry()", "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    lines = []
    while not lines or not lines[-1].startswith("registered as firms:"):
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        lines.append(line)
    return proc, lines


def _stop_cli(proc: subprocess.Popen) -> None:
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    proc.stdout.close()
    proc.stderr.close()


def test_register_records_the_simulated_firms_and_refreshes_their_urls() -> None:
    from pmtools.store.backend import backend_from_env

    args = ("--dataset", "empty", "--firms", "3", "--rate-limit", "600", "--register")
    for _ in range(2):  # a second start moves to another port: the same firms, new URLs
        proc, lines = _start_cli(*args)
        try:
            url = re.search(r"listening on (http://\S+) ", lines[0]).group(1)
            assert lines[-1] == (
                "registered as firms: Simulated firm 0 to 2 (--firm NAME, or the app)\n"
            )
            # what `pmtools firm add` asks for, so that a new user can add a firm by hand
            assert lines[-2] == (
                "credentials (every firm; the simulator's documented ones, not secrets): IPM "
                "application id 00000000-0000-4000-8000-00000000c0de, IPM access key "
                "sandbox-ipm-access-key, Liscio token sandbox-liscio-token\n"
            )
            with backend_from_env().registry() as registry:
                firms = registry.list_firms()
            assert [f.name for f in firms] == [f"Simulated firm {i}" for i in range(3)]
            assert all(f.simulator and f.ipm_rate_limit == 600 for f in firms)
            assert firms[0].ipm_url == f"{url}/karbon"
            assert firms[2].liscio_url == f"{url}/firms/2/liscio"
        finally:
            _stop_cli(proc)


def test_register_refuses_credentials_other_than_the_documented_ones() -> None:
    env = {**os.environ, "PMTOOLS_IPM_TOKEN": "own-token"}
    done = subprocess.run(
        [sys.executable, "-c", "from pmtools.cli import entry; entry()", "sandbox"]
        + ["--dataset", "empty", "--register"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode != 0
    assert "documented credentials" in done.stderr
    assert "Traceback" not in done.stderr
