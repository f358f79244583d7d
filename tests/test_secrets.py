"""Secrets never reach logs, command output, reports or the state file — end to end.

A real `pmtools sandbox` and real `pmtools` commands, with distinctive credentials and debug
logging on; afterwards every byte they wrote is searched for the secrets.
"""

import os
import subprocess
import sys

import pytest

SECRETS = {
    "PMTOOLS_LISCIO_TOKEN": "liscio-SECRET-7f3a9c",
    "PMTOOLS_IPM_TOKEN": "3c2d9e4f-SECRET-4b7a-9e21-0f5d6c7b8a91",
    "PMTOOLS_IPM_ACCESS_KEY": "eyJhbGciOi.SECRET-access-key.sig",
}


@pytest.fixture
def sandbox(tmp_path):
    env = {**os.environ, **SECRETS, "PMTOOLS_IPM_RATE_LIMIT": "0"}
    log = (tmp_path / "sandbox.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pmtools.cli import entry; entry()",
            "sandbox",
            "--port",
            "0",
            "--rate-limit",
            "0",
            "--dataset",
            "demo",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    url = line.split("listening on ", 1)[1].split()[0]
    yield url, env
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def _pmtools(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-c", "from pmtools.cli import entry; entry()", "-v", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_no_secret_in_output_logs_reports_or_state(sandbox, tmp_path):
    url, env = sandbox
    env = {
        **env,
        "PMTOOLS_STATE": str(tmp_path / "state.sqlite"),
        "PMTOOLS_LISCIO_URL": f"{url}/liscio",
        "PMTOOLS_IPM_URL": f"{url}/karbon",
    }
    outputs = []
    for args in (
        ["sync", "--json"],
        ["sync"],
        ["status", "--json"],
        ["runs", "--json"],
        ["report", "--kind", "contacts", "-o", "contacts.csv"],
        ["report", "--changes", "-o", "changes.xlsx"],
        ["explain", "accounts", "Acme"],
    ):
        done = _pmtools(*args, env=env, cwd=tmp_path)
        assert done.returncode in (0, 1), (args, done.stderr[-2000:])
        outputs += [done.stdout, done.stderr]
    # Wrong credentials: the error names the problem, not the values sent.
    bad = {**env, "PMTOOLS_IPM_ACCESS_KEY": "eyJ.WRONG-SECRET-key.sig"}
    done = _pmtools("sync", env=bad, cwd=tmp_path)
    assert done.returncode != 0 and "WRONG-SECRET" not in done.stdout + done.stderr
    outputs += [done.stdout, done.stderr]
    assert any("sync run" in o for o in outputs)  # the commands did run and log

    # Every file written: state file (and WAL), reports, and the simulator's own log.
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    text = "\n".join(outputs)
    for secret in SECRETS.values():
        assert secret not in text
        assert secret.encode() not in written
        assert b"SECRET" not in written
