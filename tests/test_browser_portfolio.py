"""The issue's "done when", in small, in a real browser: three firms registered on simulators
(different seeds), Sync now on each from the portfolio, the page closed, the portfolio opened
again — each firm shows its sync finished or still running with its progress.

`pmtools app` serves the page and starts the job worker; the simulators run in the test
process and the test registers them in the registry of its own PMTOOLS_HOME. Waits are on what
the page shows (playwright), never sleeps.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pmtools.cli.app import free_port, wait_ready

pytest.importorskip("playwright")
if not Path("/usr/bin/chromium").exists():
    pytest.skip(
        "Debian's chromium is not installed (./dev test installs it)", allow_module_level=True
    )

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT = 120_000
FIRMS = (("Alder & Birch CPA", 11), ("Cedar Tax Partners", 12), ("Douglas Fir LLP", 13))
ROWS = ".pm-portfolio-table table tbody tr"


def _worker_missing() -> str | None:
    """Why this pmtools cannot run the test (no job worker), or None."""
    try:
        import pmtools.cli.worker  # noqa: F401
        from pmtools.jobs import submit_sync  # noqa: F401
    except ImportError:
        return "pmtools has no job worker (`pmtools worker`, pmtools.jobs.submit_sync)"
    return None


@pytest.fixture(scope="module")
def served(tmp_path_factory, jupyter_dirs):
    """Three simulated firms in a fresh registry, and `pmtools app` serving the portfolio."""
    missing = _worker_missing()
    if missing:
        pytest.skip(missing)
    from pmtools.sandbox.server import start_sandbox
    from pmtools.store.registry import Registry
    from pmtools.store.sql import SqliteSql

    base = tmp_path_factory.mktemp("portfolio-browser")
    home = base / "home"
    home.mkdir(mode=0o700)
    sandboxes = []
    with Registry(SqliteSql(home / "registry.sqlite")) as registry:
        for name, seed in FIRMS:
            sandbox = start_sandbox(dataset="demo", seed=seed, rate_limit=0, port=0)
            sandboxes.append(sandbox)
            url = sandbox.url.rstrip("/")
            registry.add_firm(
                name,
                ipm_url=f"{url}/karbon",
                liscio_url=f"{url}/liscio",
                ipm_rate_limit=0,
                simulator=True,
            )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMTOOLS_")}
    env.update(jupyter_dirs)
    env["PMTOOLS_HOME"] = str(home)
    port = free_port()
    log = open(base / "app.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pmtools.cli import entry; entry()", "app", "--port",
         str(port), "--dataset", "empty"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(base),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_ready(url, proc, timeout=60)
        yield {"url": url, "home": home}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        for sandbox in sandboxes:
            sandbox.stop()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def row(page, name: str):
    return page.locator(ROWS).filter(has_text=name)


def test_syncs_go_on_after_the_page_is_closed(served, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)  # the jobs run at the machine's pace
    first = browser.new_page(viewport={"width": 1400, "height": 900})
    first.set_default_timeout(TIMEOUT)
    try:
        first.goto(served["url"])
        for name, _seed in FIRMS:
            expect(row(first, name)).to_have_count(1)
        shot(first, "portfolio-01-firms")
        for name, _seed in FIRMS:
            first.select_option(".pm-firm-select select", label=name)
            expect(first.locator("button.pm-firm-sync")).to_be_enabled()
            first.click("button.pm-firm-sync")
            expect(first.locator(".pm-portfolio-message")).to_contain_text(f"{name}: sync")
            # The row shows the job at once: queued, running with its bar, or finished.
            expect(row(first, name)).to_contain_text(re.compile(r"queued|%|today"))
        shot(first, "portfolio-02-started")
    except BaseException:
        shot(first, "portfolio-failure")
        raise
    finally:
        first.close()  # closing the page changes nothing: the worker runs the jobs

    again = browser.new_page(viewport={"width": 1400, "height": 900})
    again.set_default_timeout(TIMEOUT)
    try:
        again.goto(served["url"])
        for name, _seed in FIRMS:
            # Each firm: finished (its counts), or still running with its progress bar.
            expect(row(again, name)).to_contain_text(re.compile(r"finished|▰|▱"))
        for name, _seed in FIRMS:
            expect(row(again, name)).to_contain_text(re.compile(r"today \d\d:\d\d: finished"))
            expect(row(again, name)).to_contain_text(re.compile(r"\d+ linked"))
        shot(again, "portfolio-03-after-reopening")
        # A firm opens in the page; its workbench shows the sync the worker made.
        again.select_option(".pm-firm-select select", label=FIRMS[0][0])
        again.click("button.pm-firm-open")
        expect(again.locator(".pm-firm-title")).to_contain_text(FIRMS[0][0])
        expect(again.locator(".pm-sync-status")).to_contain_text("finished")
        again.click("button.pm-all-firms")
        expect(row(again, FIRMS[1][0])).to_be_visible()
        shot(again, "portfolio-04-back")
    except BaseException:
        shot(again, "portfolio-failure-again")
        (ARTIFACTS / "portfolio-failure.txt").write_text(again.inner_text("body"), "utf-8")
        raise
    finally:
        again.close()
