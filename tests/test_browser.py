"""The workbench in a real browser: `pmtools app` serves it with Voilà, chromium drives it.

The simulator runs in the test process (so the test can seed records through the connectors);
`pmtools app` is pointed at it through the PMTOOLS_* environment, as for real services.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pmtools.cli.app import free_port, wait_ready
from pmtools.config import Settings
from pmtools.core.records import Kind, Record, Side

pytest.importorskip("playwright")
if not Path("/usr/bin/chromium").exists():
    pytest.skip(
        "Debian's chromium is not installed (./dev test installs it)", allow_module_level=True
    )

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
XSS = "<img src=x onerror=alert(1)>"
LISCIO_NAME = "Quixotic Zebra Widgets LLC"
IPM_NAME = "Quixotic Zebra Widgets, Inc."
TIMEOUT = 90_000
ZOE_LAST = "Quillfeather"
ZOE_EMAIL = "zoe.quillfeather@example.net"
PUNCT = "same name but for LLC/Inc./punctuation"


@pytest.fixture(scope="module")
def served(tmp_path_factory, jupyter_dirs):
    """The simulator with seeded records, and `pmtools app` serving the workbench on it."""
    from pmtools.connectors.factory import connect
    from pmtools.sandbox.server import start_sandbox

    base = tmp_path_factory.mktemp("browser")
    sandbox = start_sandbox(dataset="demo", rate_limit=0)
    settings = Settings(state_path=base / "state.sqlite", ipm_rate_limit=0).with_sandbox(
        sandbox.url
    )
    liscio, ipm = connect(settings)
    liscio.create_record(
        Kind.ACCOUNTS,
        Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="", name=XSS),
        external_id="browser-xss",
    )
    liscio.create_record(
        Kind.ACCOUNTS,
        Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="", name=LISCIO_NAME, phone="555-0199"),
        external_id="browser-zebra",
    )
    ipm.create_record(
        Kind.ACCOUNTS,
        Record(side=Side.IPM, kind=Kind.ACCOUNTS, id="", name=IPM_NAME),
        external_id="browser-zebra-ipm",
    )
    for system, side, first, ext in (
        (liscio, Side.LISCIO, "Zoe", "browser-zoe"),
        (ipm, Side.IPM, "Zoë", "browser-zoe-ipm"),
    ):
        system.create_record(
            Kind.CONTACTS,
            Record(
                side=side,
                kind=Kind.CONTACTS,
                id="",
                name=f"{first} {ZOE_LAST}",
                first_name=first,
                last_name=ZOE_LAST,
                email=ZOE_EMAIL,
            ),
            external_id=ext,
        )
    env = {
        **os.environ,
        **jupyter_dirs,
        "PMTOOLS_STATE": str(settings.state_path),
        "PMTOOLS_LISCIO_URL": settings.liscio_url,
        "PMTOOLS_IPM_URL": settings.ipm_url,
        "PMTOOLS_LISCIO_TOKEN": settings.liscio_token,
        "PMTOOLS_IPM_TOKEN": settings.ipm_token,
        "PMTOOLS_IPM_ACCESS_KEY": settings.ipm_access_key,
        "PMTOOLS_IPM_RATE_LIMIT": "0",
        "PMTOOLS_HOME": str(base / "home"),  # the registry of jobs and firms: not ~/
    }
    port = free_port()
    log = open(base / "voila.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pmtools.cli import entry; entry()",
            "app",
            "--port",
            str(port),
            "--no-sandbox",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(base),
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_ready(url, proc, timeout=60)
        yield {"url": url, "settings": settings, "liscio": liscio, "ipm": ipm}
    finally:
        proc.terminate()  # pmtools app stops Voilà (and its kernels) on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        for c in (liscio, ipm):
            c.close()
        sandbox.stop()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_text(page, selector: str, text: str, timeout: int = TIMEOUT) -> None:
    """Wait until an element matching ``selector`` holds ``text`` (ipywidgets use nbsp)."""
    page.wait_for_function(
        "([s, t]) => Array.from(document.querySelectorAll(s)).some("
        "e => (e.innerText + ' ' + e.textContent).replace(/\\u00a0/g, ' ').includes(t))",
        arg=[selector, text],
        timeout=timeout,
    )


def test_sync_search_link_delink_report_in_a_browser(served, page):
    try:
        _walk_through(served, page)
    except BaseException:
        shot(page, "failure")
        (ARTIFACTS / "failure.txt").write_text(page.inner_text("body"), encoding="utf-8")
        raise


def _walk_through(served, page):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(TIMEOUT)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(served["url"] + "?firm=environment")  # the app opens on the firms
    page.wait_for_selector("button.pm-sync-now")
    shot(page, "01-app")

    page.click("button.pm-sync-now")
    for stage in ("organizations", "people", "linking"):
        page.wait_for_selector(f"button.pm-stage-{stage}.pm-stage-done")
    wait_text(page, ".pm-sync-summary", "What changed")
    # "All three buttons turn blue": solid blue, not the faded look of a disabled button.
    look = page.eval_on_selector(
        "button.pm-stage-linking",
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).opacity]",
    )
    assert look == ["rgb(25, 118, 210)", "1"], look
    shot(page, "02-synced")

    page.click("button.pm-view-details")
    tab = ".pm-tab-accounts"
    page.wait_for_selector(f"{tab} table.dataTable tbody tr")
    # Every column fits the page: no IPM column hidden off to the right.
    widths = page.eval_on_selector(
        f"{tab} table.dataTable", "t => [t.scrollWidth, t.closest('.pm-table').clientWidth]"
    )
    assert widths[0] <= widths[1] + 2, widths
    # A row clicked far down the page shows its actions in sight (they stick to the bottom).
    page.locator(f"{tab} table.dataTable tbody tr").nth(12).click()
    wait_text(page, f"{tab} .pm-selected", "Selected")
    box = page.eval_on_selector(
        f"{tab} .pm-selected",
        "e => { const r = "
        "e.getBoundingClientRect(); return [r.top, r.bottom, "
        "window.innerHeight] }",
    )
    assert 0 <= box[0] and box[1] <= box[2], box
    # The hostile name appears as text; no element is made from it and no script runs.
    page.fill(f"{tab} .pm-search input", "onerror")
    wait_text(page, f"{tab} table.dataTable tbody", XSS)
    assert page.locator("img[src='x']").count() == 0
    shot(page, "03-xss-as-text")

    page.fill(f"{tab} .pm-search input", "quixotic zebra")
    wait_text(page, f"{tab} table.dataTable tbody", IPM_NAME)
    wait_text(page, f"{tab} table.dataTable tbody", "unmatched in Liscio")
    page.select_option(
        f"{tab} .pm-record-select select", label=f"{LISCIO_NAME} · 555-0199 [unmatched in Liscio]"
    )
    wait_text(page, f"{tab} .pm-target-select select", IPM_NAME)
    options = page.locator(f"{tab} .pm-target-select select").text_content()
    assert "LLC/Inc." in options.replace("\u00a0", " ")
    shot(page, "04-suggestions")
    page.click(f"{tab} button.pm-link")
    wait_text(page, f"{tab} .pm-confirm-text", "Nothing is written until you confirm")
    wait_text(page, f"{tab} .pm-confirm-text", "555-0199")  # the IPM phone it would write
    page.click(f"{tab} button.pm-confirm-link")
    wait_text(page, f"{tab} .pm-action-result", "Linked")
    wait_text(page, f"{tab} table.dataTable tbody", "manual")
    rows = page.locator(f"{tab} table.dataTable tbody tr")
    assert rows.count() == 1 and "linked" in rows.first.inner_text()
    shot(page, "05-linked")

    # A click on the table row selects it, as the record list does.
    page.locator(f"{tab} table.dataTable tbody tr").first.click()
    wait_text(page, f"{tab} .pm-selected", f"{LISCIO_NAME} ↔ {IPM_NAME}")
    page.click(f"{tab} button.pm-delink")
    wait_text(page, f"{tab} .pm-action-result", "Delinked")
    wait_text(page, f"{tab} table.dataTable tbody", "unmatched in IPM")
    assert page.locator(f"{tab} table.dataTable tbody tr").count() == 2
    shot(page, "06-delinked")

    page.select_option(".pm-report-kind select", label="Accounts")
    page.click("button.pm-report-build")
    page.wait_for_selector("a.pm-download-csv")
    with page.expect_download() as info:
        page.click("a.pm-download-csv")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8-sig"))))
    names = {r["Liscio Account Name"] for r in rows}
    assert LISCIO_NAME in names and XSS in names
    assert any(r["IPM Organization Name"] == IPM_NAME for r in rows)
    assert len(rows) > 100
    with page.expect_download() as info:
        page.click("a.pm-download-xlsx")
    assert info.value.suggested_filename.endswith(".xlsx")
    shot(page, "07-report")

    page.locator(".pm-details-tabs .lm-TabBar-tab", has_text="Contacts").click()
    page.wait_for_selector(".pm-tab-contacts table.dataTable tbody tr")
    page.select_option(".pm-tab-contacts .pm-status-filter select", label="Ambiguous")
    wait_text(page, ".pm-tab-contacts table.dataTable tbody", "ambiguous")
    rows = page.locator(".pm-tab-contacts table.dataTable tbody tr")
    assert all("ambiguous" in t for t in rows.all_inner_texts())
    assert not page.locator(".pm-tab-contacts .dt-search input").is_visible()
    shot(page, "08-contacts-ambiguous")

    time.sleep(0.5)
    assert dialogs == []
    assert page.locator(".jp-OutputArea-output pre").filter(has_text="Traceback").count() == 0
    assert not [e for e in errors if "alert" in e]


def test_bulk_review_create_guard_and_undo_in_a_browser(served, page):
    try:
        _review(served, page)
    except BaseException:
        shot(page, "review-failure")
        (ARTIFACTS / "review-failure.txt").write_text(page.inner_text("body"), encoding="utf-8")
        raise


def _review(served, page):
    from pmtools.workbench.session import open_store

    page.set_default_timeout(TIMEOUT)
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(served["url"] + "?firm=environment")  # the app opens on the firms
    page.wait_for_selector("button.pm-sync-now")
    if not page.locator("button.pm-stage-linking.pm-stage-done").count():
        page.click("button.pm-sync-now")
        page.wait_for_selector("button.pm-stage-linking.pm-stage-done")
    store = open_store(served["settings"].state_path)
    try:
        _bulk_then_undo(served, page, store)
    finally:
        store.close()


def _bulk_then_undo(served, page, store):
    # The queue: filter by reason, select all it shows, preview, confirm.
    page.click("button.pm-review-load")
    wait_text(page, ".pm-review-badges", "to decide")
    page.select_option(".pm-review-kind select", label="Accounts")
    page.select_option(".pm-review-reason select", label=PUNCT)
    wait_text(page, ".pm-review-table", PUNCT)
    page.click("button.pm-review-select-all")
    wait_text(page, ".pm-review-selection", "selected")
    page.click("button.pm-review-link")
    wait_text(page, ".pm-bulk-preview", "Nothing is written until you click Apply")
    shot(page, "11-review-preview")
    before = {(link.liscio_id, link.ipm_key) for link in store.links()}
    page.click("button.pm-bulk-apply")
    wait_text(page, ".pm-bulk-summary", "undoable")
    shot(page, "12-review-applied")
    run = store.runs()[-1]
    assert run["command"] == "review" and run["outcome"] == "done", run
    made = [
        link for link in store.links(Kind.ACCOUNTS) if (link.liscio_id, link.ipm_key) not in before
    ]
    assert made
    # In the simulator: each pair's first sync wrote Liscio's values to IPM where set.
    lis = served["liscio"].get_record(Kind.ACCOUNTS, made[0].liscio_id)
    ipm = served["ipm"].get_record(Kind.ACCOUNTS, made[0].ipm_key)
    for f in ("phone", "website"):
        if getattr(lis, f):
            assert getattr(ipm, f) == getattr(lis, f), f
    # In View Details: the pair is linked.
    page.click("button.pm-view-details")
    tab = ".pm-tab-accounts"
    page.wait_for_selector(f"{tab} table.dataTable tbody tr")
    page.fill(f"{tab} .pm-search input", lis.name)
    wait_text(page, f"{tab} table.dataTable tbody", "linked")
    shot(page, "13-review-linked-in-details")

    # One by one with the keyboard: N moves to the next record, P back.
    page.select_option(".pm-review-reason select", label="Every reason")
    page.click(".pm-review-keys .pm-keys-box")
    first = page.inner_text(".pm-review-detail .pm-review-current")
    page.keyboard.press("n")
    page.wait_for_function(
        "t => document.querySelector('.pm-review-detail .pm-review-current').innerText != t",
        arg=first,
    )
    page.keyboard.press("p")
    wait_text(page, ".pm-review-detail .pm-review-current", first.split(" (")[0])

    # A Create in IPM next to a same-email record is stopped, the candidate shown.
    page.locator(".pm-details-tabs .lm-TabBar-tab", has_text="Contacts").click()
    ctab = ".pm-tab-contacts"
    page.wait_for_selector(f"{ctab} table.dataTable tbody tr")
    page.fill(f"{ctab} .pm-search input", f"Zoe {ZOE_LAST}")
    wait_text(page, f"{ctab} table.dataTable tbody", ZOE_EMAIL)
    page.locator(f"{ctab} table.dataTable tbody tr", has_text="unmatched in Liscio").filter(
        has_text=ZOE_EMAIL
    ).click()
    page.click(f"{ctab} button.pm-create-ipm")
    wait_text(page, f"{ctab} .pm-confirm-text", "Not created yet")
    wait_text(page, f"{ctab} .pm-duplicates", f"Zoë {ZOE_LAST}")
    wait_text(page, f"{ctab} .pm-duplicates", "same email")
    shot(page, "14-create-held-back")
    page.click(f"{ctab} button.pm-confirm-cancel")
    assert not [
        c for c in store.changes(op="create") if c.get("liscio_name", "").endswith(ZOE_LAST)
    ]

    # Undo the bulk run from the page.
    page.click("button.pm-runs-show")
    wait_text(page, ".pm-run-select", "Review")
    page.click("button.pm-undo")
    wait_text(page, ".pm-undo-preview", "nothing is written until you click Undo it")
    shot(page, "15-undo-preview")
    page.click("button.pm-undo-confirm")
    wait_text(page, ".pm-undo-result", "Undone")
    shot(page, "16-undone")
    for link in made:
        assert store.link_for(Kind.ACCOUNTS, liscio_id=link.liscio_id) is None
