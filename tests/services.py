"""Throwaway PostgreSQL and Redis servers for the tests that need real ones.

Each test session starts its own cluster (``initdb`` in a temporary folder, its own free port
on 127.0.0.1) and its own Redis, and stops them at the end even when tests fail, so that tests
never depend on a system-wide server and several suites can run at once. ``./dev test``
installs Debian's ``postgresql`` and ``redis-server`` and sets ``PMTOOLS_REQUIRE_SERVICES=1``:
then a missing server fails the tests that need it; elsewhere they are skipped, saying why.

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user (made
by Debian's package) through ``runuser``. The cluster asks for a password over TCP (scram), so
the tests of a wrong password are real.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "pm"
PG_DATABASE = "pmtools"
READY_TIMEOUT = 120.0  # only stops a hang; a busy machine starts a server in seconds


def services_required() -> bool:
    """True when a missing server must fail the tests (``./dev test``, CI)."""
    return os.environ.get("PMTOOLS_REQUIRE_SERVICES") == "1"


def unavailable(what: str) -> None:
    """Fail (services required) or skip the test, saying how to get ``what``."""
    if services_required():
        pytest.fail(f"{what}, and PMTOOLS_REQUIRE_SERVICES=1 needs it", pytrace=False)
    pytest.skip(f"{what}; `./dev test` installs it")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin() -> Path | None:
    """The newest PostgreSQL server's bin folder (Debian's layout), or None."""
    found = sorted(
        (p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def _as_server_user() -> list[str]:
    """The prefix that runs a command as the cluster's owner (``postgres`` when we are root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        unavailable("the postgres user is missing (Debian's postgresql package makes it)")
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster; yields its URL; stops and removes it after."""
    bin_dir = pg_bin()
    if bin_dir is None:
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")
    assert bin_dir is not None
    prefix = _as_server_user()
    base = Path(tempfile.mkdtemp(prefix="pmtools-pg-"))  # in /tmp: postgres can reach it
    data, log = base / "data", base / "log"
    password = secrets.token_hex(12)
    (base / "pw").write_text(password + "\n")
    if prefix:
        shutil.chown(base, "postgres")
        shutil.chown(base / "pw", "postgres")
    started = False
    try:
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "--pwfile",
                str(base / "pw"),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=READY_TIMEOUT,
        )
        for _ in range(5):  # another suite may take the free port first: try another
            port = free_port()
            options = f"-k {base} -h 127.0.0.1 -p {port} -c fsync=off -c max_connections=200"
            done = subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options]
                + ["-l", str(log), "-w", "-t", str(int(READY_TIMEOUT)), "start"],
                capture_output=True,
                timeout=READY_TIMEOUT + 30,
            )
            if done.returncode == 0:
                started = True
                break
        if not started:
            pytest.fail(f"PostgreSQL did not start: {log.read_text()[-2000:]}", pytrace=False)
        url = f"postgresql://{PG_USER}:{password}@127.0.0.1:{port}"
        import psycopg

        with psycopg.connect(url + "/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")
        yield f"{url}/{PG_DATABASE}"
    finally:
        if started:
            subprocess.run(
                [*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=READY_TIMEOUT,
            )
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Start a throwaway Redis on loopback (no persistence); yields its URL; stops it after."""
    exe = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if exe is None:
        unavailable("Redis is not installed (apt-get install redis-server)")
    assert exe is not None
    base = Path(tempfile.mkdtemp(prefix="pmtools-redis-"))
    proc = None
    try:
        for _ in range(5):  # another suite may take the free port first: try another
            port = free_port()
            proc = subprocess.Popen(
                [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
                + ["--appendonly", "no", "--dir", str(base), "--daemonize", "no"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if _redis_answers(port, proc):
                break
            proc.wait(timeout=READY_TIMEOUT)
            proc = None
        if proc is None:
            pytest.fail("Redis did not start", pytrace=False)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=READY_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def _redis_answers(port: int, proc: subprocess.Popen[bytes]) -> bool:
    """Wait until Redis answers PING (True) or its process ends (False: port taken)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)  # polls an observed event (the server answering), not a duration
    return False
