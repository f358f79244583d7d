"""The simulator as a service: Liscio routes, faults, persistence, and ``pmtools sandbox``."""

from __future__ import annotations

import concurrent.futures
import os
import random
import re
import subprocess
import sys
import time

import httpx
import pytest

from pmtools import config
from pmtools.sandbox.faults import FaultSpec, RateLimiter
from pmtools.sandbox.server import start_sandbox

IPM = {
    "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
    "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
}
LISCIO = {"Authorization": f"Bearer {config.SANDBOX_LISCIO_TOKEN}"}


def liscio(server) -> httpx.Client:
    return httpx.Client(base_url=server.liscio_url, headers=LISCIO, timeout=10)


def test_liscio_pages_by_cursor_in_id_order() -> None:
    with start_sandbox(dataset="demo", seed=2, rate_limit=0) as server:
        c = liscio(server)
        ids, cursor = [], None
        while True:
            page = c.get(
                "/v1/contacts", params={"limit": 100, **({"cursor": cursor} if cursor else {})}
            ).json()
            ids += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert ids == sorted(ids) and len(ids) == len(set(ids)) == server.state.count("contacts")
        assert len(c.get("/v1/accounts").json()["items"]) == 50
        assert c.get("/v1/accounts", params={"cursor": "garbage"}).status_code == 400


def test_liscio_create_patch_and_uniqueness() -> None:
    with start_sandbox(dataset="empty") as server:
        c = liscio(server)
        account = c.post(
            "/v1/accounts",
            json={"name": "Acme", "external_id": "ipm:1", "address": {"line1": "1 Main St"}},
        ).json()
        assert account["address"] == {
            "line1": "1 Main St",
            "line2": None,
            "city": None,
            "state": None,
            "postal_code": None,
            "country": None,
        }
        dup = c.post("/v1/accounts", json={"name": "Acme again", "external_id": "ipm:1"})
        assert dup.status_code == 409
        assert dup.json()["error"]["existing_id"] == account["id"]
        assert server.state.count("accounts") == 1
        patched = c.patch(f"/v1/accounts/{account['id']}", json={"phone": "555-0100"}).json()
        assert patched["phone"] == "555-0100" and patched["address"] == account["address"]
        assert patched["updated_at"] > account["updated_at"]
        same = c.patch(f"/v1/accounts/{account['id']}", json={"phone": "555-0100"}).json()
        assert same["updated_at"] == patched["updated_at"]  # no change, no new stamp
        assert (
            c.patch(f"/v1/accounts/{account['id']}", json={"address": None}).json()["address"]
            is None
        )
        one = c.post(
            "/v1/contacts",
            json={
                "first_name": "Zoë",
                "last_name": "O'Brien",
                "primary_email": "zoe@example.com",
                "account_ids": [account["id"]],
            },
        ).json()
        two = c.post("/v1/contacts", json={"first_name": "A", "last_name": "B"}).json()
        taken = c.patch(f"/v1/contacts/{two['id']}", json={"primary_email": "ZOE@example.com"})
        assert taken.status_code == 400
        assert taken.json()["error"] == {
            "code": "email_in_use",
            "existing_id": one["id"],
            "message": f"primary_email is already used by {one['id']}",
        }
        assert server.state.get("contacts", two["id"])["primary_email"] is None
        assert (
            c.post(
                "/v1/contacts",
                json={"first_name": "A", "last_name": "B", "account_ids": ["acc_999999"]},
            ).status_code
            == 400
        )
        assert (
            c.post(
                "/v1/contacts", json={"first_name": "A", "last_name": "B", "id": "x"}
            ).status_code
            == 400
        )
        found = c.get("/v1/accounts", params={"external_id": "ipm:1"}).json()
        assert [a["id"] for a in found["items"]] == [account["id"]]
        since = c.get("/v1/contacts", params={"updated_since": one["updated_at"]}).json()
        assert {x["id"] for x in since["items"]} == {one["id"], two["id"]}


def test_fault_spec_parsing() -> None:
    spec = FaultSpec.parse("500=0.05,429=0.05,timeout=0.01,drop-after-commit=0.02")
    assert dict(spec.probabilities) == {
        "500": 0.05,
        "429": 0.05,
        "timeout": 0.01,
        "drop-after-commit": 0.02,
    }
    for bad in ("500", "418=0.1", "500=x", "500=2", "500=0.6,429=0.6"):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)
    rolls = [FaultSpec.parse("500=0.5").draw(random.Random(7)) for _ in range(3)]
    assert len(set(rolls)) == 1  # the same seed draws the same faults


def test_rate_limiter_slides() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.admit("a") is None and limiter.admit("a") is None
    assert limiter.admit("a") == 60 and limiter.admit("b") is None
    now[0] = 30.5
    assert limiter.admit("a") == 30
    now[0] = 60.1
    assert limiter.admit("a") is None


def test_seeded_faults_repeat_and_count() -> None:
    def outcomes() -> list[int]:
        with start_sandbox(
            dataset="empty", rate_limit=0, faults="500=0.3,429=0.3", seed=11
        ) as server:
            c = httpx.Client(base_url=server.ipm_url, headers=IPM)
            got = [c.get("/v3/TenantSettings").status_code for _ in range(30)]
            assert server.stats.snapshot()["ipm"] == 30
            return got

    first = outcomes()
    assert first == outcomes()
    assert {200, 429, 500} <= set(first)


def test_drop_after_commit_commits_then_drops() -> None:
    with start_sandbox(dataset="empty", rate_limit=0, faults="drop-after-commit=1") as server:
        c = httpx.Client(base_url=server.ipm_url, headers=IPM, timeout=5)
        with pytest.raises(httpx.TransportError):
            c.post(
                "/v3/Organizations",
                json={"FullName": "Dropped LLC", "UserDefinedIdentifier": "drop-1"},
            )
        assert server.state.count("organizations", FullName="Dropped LLC") == 1
        lookup = c.get(
            "/v3/Organizations/GetOrganizationByUserDefinedIdentifier("
            "UserDefinedIdentifier='drop-1')"
        )
        assert lookup.status_code == 200  # reads are not dropped
        with pytest.raises(httpx.TransportError):
            liscio(server).post("/v1/accounts", json={"name": "Dropped", "external_id": "d"})
        assert server.state.count("accounts", name="Dropped") == 1


@pytest.mark.parametrize("commit", [True, False])
def test_a_held_write_waits_for_release_committed_or_not(commit: bool) -> None:
    # The server stops first (releasing a held request) should an assertion fail.
    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        start_sandbox(dataset="empty", rate_limit=0) as server,
    ):
        held = server.hold_write(2, commit=commit)  # counted over both services
        ipm = httpx.Client(base_url=server.ipm_url, headers=IPM, timeout=60)
        assert ipm.post("/v3/Organizations", json={"FullName": "First LLC"}).status_code == 201
        assert ipm.get("/v3/Organizations").status_code == 200  # reads are not counted
        reply = pool.submit(liscio(server).post, "/v1/accounts", json={"name": "Second"})
        assert held.reached.wait(timeout=60)
        assert not reply.done()  # no answer while held
        assert server.state.count("accounts", name="Second") == (1 if commit else 0)
        held.release()
        with pytest.raises(httpx.TransportError):
            reply.result(timeout=60)
        assert liscio(server).post("/v1/accounts", json={"name": "Third"}).status_code == 201
        assert server.state.count("accounts", name="Second") == (1 if commit else 0)


def test_timeout_fault_hangs_then_drops() -> None:
    with start_sandbox(
        dataset="empty", rate_limit=0, faults="timeout=1", hang_seconds=1.0
    ) as server:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{server.ipm_url}/v3/TenantSettings", headers=IPM, timeout=0.3)
        # the hang ends in a dropped connection, not in the client's own (generous) timeout:
        # asserted on the error's kind, so a busy machine cannot fail it
        with pytest.raises(httpx.TransportError) as dropped:
            httpx.get(f"{server.ipm_url}/v3/TenantSettings", headers=IPM, timeout=120)
        assert not isinstance(dropped.value, httpx.TimeoutException)
        assert time.monotonic() - started > 0.9


def test_db_persists_across_restarts(tmp_path) -> None:
    db = tmp_path / "sandbox.sqlite"
    with start_sandbox(dataset="demo", seed=4, db=db, rate_limit=0) as server:
        counts = {c: server.state.count(c) for c in ("organizations", "people", "accounts")}
        made = httpx.post(
            f"{server.ipm_url}/v3/Organizations",
            headers=IPM,
            json={"FullName": "Kept LLC", "UserDefinedIdentifier": "kept"},
        ).json()
        card = server.state.primary_card(server.state.all("organizations")[0]["OrganizationKey"])
        httpx.put(
            f"{server.ipm_url}/v3/BusinessCards/{card['BusinessCardKey']}",
            headers=IPM,
            json={"EntityType": "Organization", "WebSites": ["www.kept.example"]},
        )
    with start_sandbox(dataset="demo", seed=99, db=db, rate_limit=0) as server:
        assert server.state.count("organizations") == counts["organizations"] + 1
        assert server.state.count("people") == counts["people"]
        again = httpx.get(
            f"{server.ipm_url}/v3/Organizations/GetOrganizationByUserDefined"
            "Identifier(UserDefinedIdentifier='kept')",
            headers=IPM,
        ).json()
        assert again["OrganizationKey"] == made["OrganizationKey"]
        assert server.state.get("cards", card["BusinessCardKey"])["WebSites"] == [
            "www.kept.example"
        ]
        dup = httpx.post(
            f"{server.ipm_url}/v3/Organizations",
            headers=IPM,
            json={"FullName": "Kept LLC", "UserDefinedIdentifier": "kept"},
        )
        assert dup.status_code == 500


def test_cli_prints_its_url_and_serves(tmp_path) -> None:
    env = {**os.environ, "PMTOOLS_IPM_TOKEN": "cli-token", "PMTOOLS_IPM_ACCESS_KEY": "cli-key"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pmtools.cli import entry; entry()",
            "sandbox",
            "--port",
            "0",
            "--dataset",
            "empty",
            "--rate-limit",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(
            r"pmtools sandbox listening on (http://127\.0\.0\.1:\d+) "
            r"\(IPM: \1/karbon, Liscio: \1/liscio\)\n",
            line,
        )
        assert match, line
        url = match.group(1)
        # the environment's own credentials are named, never shown back
        said = proc.stdout.readline()
        assert said.startswith("credentials: those of PMTOOLS_IPM_TOKEN, "), said
        assert "cli-token" not in said and "cli-key" not in said
        reply = httpx.get(
            f"{url}/karbon/v3/TenantSettings",
            headers={"Authorization": "Bearer cli-token", "AccessKey": "cli-key"},
        )
        assert reply.status_code == 200
        assert httpx.get(f"{url}/karbon/v3/TenantSettings", headers=IPM).status_code == 401
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_latency_delays_every_reply() -> None:
    with start_sandbox(dataset="empty", latency_ms=150) as server:
        started = time.monotonic()
        assert httpx.get(f"{server.liscio_url}/v1/accounts", headers=LISCIO).status_code == 200
        assert httpx.get(f"{server.ipm_url}/v3/TenantSettings").status_code == 401
        assert time.monotonic() - started >= 0.3
