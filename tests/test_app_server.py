"""The served app refuses hostile pages (issue 8 §2): foreign hosts, cross-origin websockets,
a kernel per GET without end.

`pmtools app` serves a one-cell notebook (its hidden ``--notebook``) on the empty simulator,
and the tests speak raw HTTP (httpx) and websockets (tornado) to it over loopback with forged
``Host`` and ``Origin`` headers. Live kernels are counted as the ``ipykernel`` processes under
the app (Linux ``/proc``), and asked of Voilà's kernel API.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from pmtools.cli.app import free_port, wait_ready
from pmtools.cli.appserver import app_limits, parse_hosts, voila_config
from pmtools.cli.kernels import FULL_MESSAGE
from pmtools.errors import ConfigError

MAX_KERNELS = 2
FOREIGN = "attacker.example"
NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "hello",
            "metadata": {},
            "outputs": [],
            "source": ["print('hello from the kernel')"],
        }
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory, jupyter_dirs):
    """`pmtools app --max-kernels 2 --allow-host pm.example.test` on a one-cell notebook."""
    base = tmp_path_factory.mktemp("appserver")
    notebook = base / "hello.ipynb"
    notebook.write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMTOOLS_")}
    env.update(jupyter_dirs)
    port = free_port()
    log = open(base / "app.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pmtools.cli import entry; entry()",
            "app",
            "--port",
            str(port),
            "--dataset",
            "empty",
            "--notebook",
            str(notebook),
            "--max-kernels",
            str(MAX_KERNELS),
            "--allow-host",
            "pm.example.test",
        ],
        env=env,
        cwd=str(base),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url + "/", proc, timeout=90)
        with httpx.Client(base_url=url, timeout=120) as client:
            yield {"url": url, "port": port, "proc": proc, "client": client}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def kernel_processes(root: int) -> list[int]:
    """The ipykernel processes descending from process ``root``."""
    parents: dict[int, int] = {}
    commands: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == root:
                return True
        return False

    return [pid for pid, cmd in commands.items() if b"ipykernel" in cmd and descends(pid)]


def kernel_id(page: str) -> str:
    """The kernel id Voilà wrote into the page it served."""
    found = re.search(r'kernelId["\\]*:\s*["\\]*"?([0-9a-f-]{36})', page)
    assert found, page[:2000]
    return found.group(1)


def open_page(served, host: str | None = None) -> str:
    """GET ``/`` as a browser would (on 127.0.0.1, or ``host``); the page's kernel id, once that
    kernel is idle.

    The server learns that the kernel finished the notebook from the kernel's own status
    message, which may arrive just after the page; a test waits for it (a person's next tab
    does not come within milliseconds).
    """
    reply = served["client"].get("/", headers={"Host": host} if host else None)
    assert reply.status_code == 200, reply.text[:2000]
    kid = kernel_id(reply.text)
    wait_kernel(served, kid, lambda model: model["execution_state"] == "idle")
    return kid


def wait_kernel(served, kid: str, done) -> None:
    """Wait until Voilà's model of kernel ``kid`` satisfies ``done`` (a minute at most)."""
    deadline = time.monotonic() + 60
    while not done(served["client"].get(f"/api/kernels/{kid}").json()):
        assert time.monotonic() < deadline, "the kernel never reached the state awaited"
        time.sleep(0.05)


async def attach(served, kid: str, *, host: str | None = None, origin: str | None = None):
    """A websocket on kernel ``kid``, answered once (so the server counts it as connected)."""
    port = served["port"]
    host = host or f"127.0.0.1:{port}"
    headers = {"Host": host, "Origin": origin or f"http://{host}"}
    request = HTTPRequest(
        f"ws://127.0.0.1:{port}/api/kernels/{kid}/channels?session_id={uuid.uuid4()}",
        headers=headers,
    )
    ws = await websocket_connect(request)
    msg_id = str(uuid.uuid4())
    ws.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "kernel_info_request",
                    "session": "t",
                    "username": "t",
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "content": {},
                "channel": "shell",
            }
        )
    )
    while True:
        raw = await ws.read_message()
        assert raw is not None, "the websocket closed before the kernel answered"
        reply = json.loads(raw)
        if (
            reply.get("parent_header", {}).get("msg_id") == msg_id
            and reply["header"]["msg_type"] == "kernel_info_reply"
        ):
            return ws


def try_websocket(served, kid: str, **headers: str) -> int:
    """101 if a websocket with these headers opens and is answered, else the refusal's status."""

    async def attempt():
        ws = await attach(served, kid, **headers)
        ws.close()

    try:
        asyncio.run(attempt())
    except HTTPClientError as refused:
        return refused.code
    # The server learns of the close a moment later; later tests count on the kernel idle.
    wait_kernel(served, kid, lambda model: model["connections"] == 0)
    return 101


def test_a_foreign_host_is_refused_before_a_kernel_starts(served):
    client, port = served["client"], served["port"]
    before = kernel_processes(served["proc"].pid)
    for host in (f"{FOREIGN}:{port}", FOREIGN, f"10.1.2.3:{port}", f"pm.example.test.{FOREIGN}"):
        reply = client.get("/", headers={"Host": host})
        assert reply.status_code == 403, (host, reply.status_code)
        assert "Traceback" not in reply.text
        assert client.get("/voila/api/shutdown/x", headers={"Host": host}).status_code == 403
    assert kernel_processes(served["proc"].pid) == before, "a refused GET started a kernel"


def test_the_hosts_it_serves_are_accepted(served):
    port = served["port"]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"pm.example.test:{port}"):
        kid = open_page(served, host)
        assert served["client"].get(f"/api/kernels/{kid}").status_code == 200


def test_cross_origin_and_rebound_websockets_are_refused_with_403(served):
    port = served["port"]
    kid = open_page(served)
    foreign = f"http://{FOREIGN}:{port}"
    # A page on attacker.example talking to 127.0.0.1 directly: its Origin gives it away.
    assert try_websocket(served, kid, host=f"127.0.0.1:{port}", origin=foreign) == 403
    # DNS rebinding: attacker.example resolved to 127.0.0.1, so Host and Origin agree.
    assert try_websocket(served, kid, host=f"{FOREIGN}:{port}", origin=foreign) == 403
    # Nor can a rebound page read the kernel's state over plain HTTP.
    client = served["client"]
    assert (
        client.get(f"/api/kernels/{kid}", headers={"Host": f"{FOREIGN}:{port}"}).status_code == 403
    )
    assert client.get(f"/api/kernels/{kid}").status_code == 200
    # The page's own origin is welcome (this is how the browser drives the widgets).
    assert try_websocket(served, kid) == 101


def test_live_kernels_stay_within_the_bound_oldest_idle_first(served):
    pid = served["proc"].pid
    opened = []
    for _ in range(MAX_KERNELS + 3):
        opened.append(open_page(served))
        assert len(kernel_processes(pid)) <= MAX_KERNELS
    client = served["client"]
    assert [client.get(f"/api/kernels/{k}").status_code for k in opened] == [404] * 3 + [
        200
    ] * MAX_KERNELS, "not the oldest idle kernels that were shut down"


def test_when_every_kernel_is_in_use_the_page_says_so_in_a_sentence(served):
    kids = []

    async def scenario():
        sockets = []
        try:
            for _ in range(MAX_KERNELS):
                kids.append(open_page(served))
                sockets.append(await attach(served, kids[-1]))
            async with httpx.AsyncClient(base_url=served["url"], timeout=120) as client:
                return await client.get("/")
        finally:
            for ws in sockets:
                ws.close()

    reply = asyncio.run(scenario())
    for kid in kids:  # tabs closed: the kernels are idle again, and culled first next time
        wait_kernel(served, kid, lambda model: model["connections"] == 0)
    assert reply.status_code == 503
    assert FULL_MESSAGE in reply.text.replace("&#39;", "'")
    assert "Traceback" not in reply.text and "Error" not in reply.text
    assert len(kernel_processes(served["proc"].pid)) <= MAX_KERNELS


def test_hosts_and_bound_come_from_flags_then_environment():
    hosts, bound = app_limits(
        flag_hosts=["PM.example.com"],
        flag_max=None,
        environ={"PMTOOLS_APP_HOSTS": "a.example, b.example,", "PMTOOLS_APP_MAX_KERNELS": "7"},
    )
    assert hosts == ("pm.example.com", "a.example", "b.example") and bound == 7
    assert app_limits(flag_hosts=[], flag_max=3, environ={"PMTOOLS_APP_MAX_KERNELS": "7"})[1] == 3
    assert app_limits(flag_hosts=[], flag_max=None, environ={}) == ((), 4)
    config = voila_config(hosts=hosts, max_kernels=bound)
    assert config["Voila"]["tornado_settings"] == {
        "allow_remote_access": False,
        "local_hostnames": ["localhost", "pm.example.com", "a.example", "b.example"],
    }
    assert config["BoundedKernelManager"] == {"max_kernels": 7}


@pytest.mark.parametrize(
    "bad",
    ["10.0.0.5", "[::1]", "pm.example.com:443", "https://pm.example.com", "*.example.com", "a b"],
)
def test_an_address_or_url_is_not_a_host_name(bad):
    with pytest.raises(ConfigError, match="not a host name"):
        parse_hosts([bad])


@pytest.mark.parametrize("bad", ["0", "-1", "many"])
def test_a_bound_below_one_is_a_configuration_error(bad):
    with pytest.raises(ConfigError, match="PMTOOLS_APP_MAX_KERNELS"):
        app_limits(flag_hosts=[], flag_max=None, environ={"PMTOOLS_APP_MAX_KERNELS": bad})
