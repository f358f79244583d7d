"""``pmtools app``: serve the workbench with Voilà, on the bundled simulator when unconfigured."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

from pmtools.cli.appserver import (
    HOSTS_ENV,
    MAX_KERNELS_ENV,
    app_limits,
    is_address,
    voila_config,
)
from pmtools.cli.appworker import AppWorker
from pmtools.config import ENV
from pmtools.errors import ConfigError

NOTEBOOK = "workbench.ipynb"
CULL_IDLE_SECONDS = 900
CULL_INTERVAL_SECONDS = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``pmtools app``."""
    p = subparsers.add_parser(
        "app",
        help="serve the workbench (Voilà) on 127.0.0.1",
        description="Serve the workbench with Voilà. With no IPM/Liscio URLs configured it "
        "starts the bundled simulator with the demo dataset first.",
    )
    p.add_argument(
        "--port",
        type=int,
        default=8866,
        help="port to listen on (default 8866; 0 picks a free one)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="never start the simulator: fail unless services are configured",
    )
    p.add_argument("--dataset", default="demo", help="simulator dataset (default demo)")
    p.add_argument("--seed", type=int, default=None, help="simulator seed")
    p.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        help="simulator IPM requests a minute (default 0: off, for the demo)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help=f"also accept this host name (a team server behind an authenticating "
        f"proxy; repeatable; or ${HOSTS_ENV}, comma-separated). Other hosts "
        f"than 127.0.0.1 and localhost get 403",
    )
    p.add_argument(
        "--max-kernels",
        type=int,
        default=None,
        metavar="N",
        help=f"most workbench pages open at once (default ${MAX_KERNELS_ENV} or 4); "
        f"the oldest idle one is closed to make room",
    )
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="start no worker for Sync Now and schedules (a team runs `pmtools worker` as a "
        "service instead)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=8,
        metavar="N",
        help="firms the app's worker syncs at once (default 8), each within its own IPM rate limit",
    )
    p.add_argument("--notebook", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


CHECKOUT = Path(__file__).resolve().parent.parent.parent  # the folder holding pmtools/


def notebook_path(workdir: Path, *, root: Path = CHECKOUT) -> Path:
    """The workbench notebook: ``root/notebooks/``'s in a checkout, else one written to ``workdir``.

    An installed pmtools has no checkout beside it; the workbench notebook is only wiring, so
    it is written out (two cells) rather than shipped as a second copy that could drift.
    """
    candidate = root / "notebooks" / NOTEBOOK
    if candidate.is_file():
        return candidate
    path = workdir / NOTEBOOK
    path.write_text(json.dumps(WORKBENCH_NOTEBOOK, indent=1), encoding="utf-8")
    return path


WORKBENCH_NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# pmtools workbench"]},
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "app",
            "metadata": {},
            "outputs": [],
            "source": [
                "from pmtools.workbench import build_app\n",
                "\n",
                "app = build_app()\n",
                "app",
            ],
        },
    ],
    "metadata": {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def voila_command(
    notebook: Path, *, host: str, port: int, config_dir: Path | None = None
) -> list[str]:
    """The Voilà command line: the venv's own voila, idle kernels culled, tracebacks hidden.

    ``config_dir`` holds the ``voila.json`` of :func:`pmtools.cli.appserver.voila_config` (the
    host check and the kernel bound); it is the only place Voilà reads configuration files from,
    so a stray ``voila.json`` beside the notebook or in ``~/.jupyter`` cannot loosen them.
    """
    configs = [f"--Voila.config_file_paths={config_dir}"] if config_dir is not None else []
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={host}",
        *configs,
        "--VoilaConfiguration.show_tracebacks=False",
        "--KernelManager.transport_encryption=auto",
        f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL_SECONDS}",
        "--MappingKernelManager.cull_connected=False",
    ]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until Voilà answers (probing a static path: a GET of ``/`` starts a kernel)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(
                f"voila exited with code {proc.returncode} (is the port in "
                f"use? `pmtools app --port 0` picks a free one)"
            )
        try:
            urllib.request.urlopen(url.rstrip("/") + "/voila/static/", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer (a 404 here) means it is up
        except OSError:
            time.sleep(0.2)
    raise ConfigError(f"voila did not start within {timeout:.0f} s")


def run(args: argparse.Namespace) -> int:
    """Start the simulator if needed, then Voilà; block until interrupted."""
    from pmtools.store.firms import FIRM_ENV, resolve

    firm = resolve(getattr(args, "firm", None), state=getattr(args, "state", None))
    settings = firm.settings
    hosts, max_kernels = app_limits(
        flag_hosts=args.allow_host, flag_max=args.max_kernels, environ=os.environ
    )
    if not is_address(args.host):  # bound to a name: that name is one it serves
        hosts = (*hosts, args.host.lower())
    if args.no_sandbox or settings.liscio_url or settings.ipm_url:
        settings.require_services()  # half a configuration is a mistake, not a demo
    env = dict(os.environ)
    sandbox = None
    proc: subprocess.Popen | None = None
    worker: AppWorker | None = None
    # A SIGTERM must stop Voilà and the simulator too, not leave them running orphaned.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="pmtools-app-"))
    try:
        if not settings.has_services:
            from pmtools.sandbox.server import start_sandbox

            kwargs = {"dataset": args.dataset, "rate_limit": args.rate_limit, "port": 0}
            if args.seed is not None:
                kwargs["seed"] = args.seed
            sandbox = start_sandbox(**kwargs)
            settings = replace(settings.with_sandbox(sandbox.url), ipm_rate_limit=args.rate_limit)
            env["PMTOOLS_IPM_RATE_LIMIT"] = str(args.rate_limit)  # the client paces itself too
            env["PMTOOLS_SIMULATOR"] = "1"
            print(f"pmtools: simulator ({args.dataset} dataset) at {sandbox.url}", flush=True)
            if not os.environ.get(ENV["state_path"]) and not getattr(args, "state", None):
                # The simulator keeps its data in memory: keep the state beside it, not in ./.
                settings = replace(settings, state_path=workdir / "state.sqlite")
        if firm.registered:  # the page resolves the firm by name: its keys stay out of env
            env[FIRM_ENV] = firm.slug
        for name, var in ENV.items():
            value = getattr(settings, name)
            if value and not firm.registered:
                env[var] = str(Path(value).resolve()) if name == "state_path" else str(value)
        if not getattr(args, "no_worker", False):
            worker = AppWorker(env, concurrency=max(args.concurrency, 1)).start()
        port = args.port or free_port(args.host)
        notebook = Path(args.notebook) if args.notebook else notebook_path(workdir)
        config_dir = workdir / "voila-config"
        config_dir.mkdir()
        (config_dir / "voila.json").write_text(
            json.dumps(voila_config(hosts=hosts, max_kernels=max_kernels), indent=1),
            encoding="utf-8",
        )
        # No stdin: on Ctrl-C Jupyter would otherwise ask "Shutdown this server (y/[n])?".
        command = voila_command(notebook, host=args.host, port=port, config_dir=config_dir)
        proc = subprocess.Popen(
            command, env=env, cwd=str(notebook.parent), stdin=subprocess.DEVNULL
        )
        url = f"http://{args.host}:{port}/"
        wait_ready(url, proc)
        print(f"pmtools: workbench at {url}  (Ctrl-C stops it)", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()  # Jupyter stops its kernels and exits on SIGTERM
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if worker is not None:
            worker.stop()
        if sandbox is not None:
            sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
