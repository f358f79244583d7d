"""The worker ``pmtools app`` starts for itself, kept running while the app runs.

A worker that dies (killed, out of memory) would otherwise leave every Sync Now of the page
"waiting for a worker" for ever: the app starts it again, and says so. One that keeps dying at
once is given up after a few tries, with a sentence saying what to run instead.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

RESTARTS = 5  # quick deaths in a row before the app gives up on its worker
QUICK = 30.0  # seconds: a worker that dies sooner than this after its start died "at once"


class AppWorker:
    """``pmtools worker`` as a child of the app, with the app's environment; restarted if it
    dies while the app runs, stopped with the app."""

    def __init__(self, env: dict[str, str], *, concurrency: int) -> None:
        self.env = env
        self.concurrency = concurrency
        self.proc: subprocess.Popen | None = None
        self.restarts = 0  # how many times the app started it again
        self._stopping = threading.Event()
        self._keeper = threading.Thread(target=self._keep, name="pmtools-app-worker", daemon=True)

    def start(self) -> AppWorker:
        """Start the worker and the thread that keeps it running."""
        self.proc = self._spawn()
        self._keeper.start()
        return self

    def _spawn(self) -> subprocess.Popen:
        command = [
            sys.executable,
            "-c",
            "from pmtools.cli import entry; entry()",
            "worker",
            f"--concurrency={self.concurrency}",
            f"--parent={os.getpid()}",
        ]
        return subprocess.Popen(command, env=self.env, stdin=subprocess.DEVNULL)

    def _keep(self) -> None:
        quick_deaths = 0
        while not self._stopping.is_set():
            assert self.proc is not None
            started = time.monotonic()
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            quick_deaths = quick_deaths + 1 if time.monotonic() - started < QUICK else 1
            if quick_deaths > RESTARTS:
                print(
                    "pmtools: the app's worker keeps stopping, so syncs started here will wait; "
                    "run `pmtools -v worker` in another terminal to see why",
                    file=sys.stderr,
                    flush=True,
                )
                return
            log.warning("the app's worker stopped (exit %s); starting it again", code)
            print(
                "pmtools: the worker stopped unexpectedly and was started again; its jobs "
                "carry on where they stopped",
                file=sys.stderr,
                flush=True,
            )
            self.restarts += 1
            self.proc = self._spawn()

    def stop(self) -> None:
        """Stop the worker: its jobs stop at their next step and go back to the queue."""
        self._stopping.set()
        worker = self.proc
        if worker is None or worker.poll() is not None:
            return
        worker.terminate()
        try:
            worker.wait(timeout=150)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
