"""A long pairs report as a job: read both sides (every IPM card), write the files, owner-only.

The app's *Build report* with "Read every IPM address" checked costs one IPM request per
organization — minutes to hours on a big firm — so where a worker runs the firm's jobs it is a
``report`` job: the worker writes ``pmtools-<kind>-<status>-<job>.csv`` and ``.xlsx`` under
``$PMTOOLS_HOME/reports/<firm>/`` (folder 0700, files 0600: they hold client emails) and the
page offers them for download when the job is done. The job's summary names the files and the
row count; nothing of the records' data goes to the registry. The newest :data:`KEEP` reports
of a firm are kept, older ones removed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pmtools.core.records import Kind
from pmtools.errors import ConfigError
from pmtools.store import Store
from pmtools.store.backend import home_from_env

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx")
KEEP = 10  # reports kept per firm (each a CSV and an Excel file): older ones are removed
STATUSES = ("all", "linked", "unmatched", "ambiguous", "orphaned")


def report_params(kind: Kind | str, status: str) -> dict[str, Any]:
    """A ``report`` job's params: the pairs report of ``kind`` keeping rows of ``status``."""
    return {"kind": Kind(kind).value, "status": status, "fresh": True}


def reports_dir(firm_slug: str, environ: Mapping[str, str] | None = None) -> Path:
    """``$PMTOOLS_HOME/reports/<firm>/``, created owner-only."""
    folder = home_from_env(environ) / "reports" / firm_slug
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask, and an old folder kept its own
    return folder


def write_owner_only(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (created 0600, never wider)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(data)


def prune(folder: Path, keep: int = KEEP) -> None:
    """Remove all but the ``keep`` newest reports of a firm (they hold client data)."""
    files = sorted(
        (p for p in folder.glob("pmtools-*.*") if p.suffix.lstrip(".") in FORMATS),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in files[keep * len(FORMATS) :]:
        old.unlink(missing_ok=True)


def build_report(
    job_id: str,
    firm_slug: str,
    params: Mapping[str, Any],
    *,
    store: Store,
    liscio: Any,
    ipm: Any,
    progress: Callable[[str, int, int, str], None],
    cancel: threading.Event,
) -> dict[str, Any] | None:
    """Build the report and write its files; the job's summary, or None when cancelled."""
    from pmtools.analysis import reports
    from pmtools.analysis.history import last_sync_times
    from pmtools.engine.fetch import fetch_records

    kind = Kind(params.get("kind") or "accounts")
    status = str(params.get("status") or "all")
    if status not in STATUSES:
        raise ConfigError(f"a report cannot keep rows of status {status!r}")
    progress("reading", 0, 1, "reading the records")
    lis, ipm_recs = fetch_records(
        kind,
        liscio=liscio,
        ipm=ipm,
        store=store,
        fresh=bool(params.get("fresh", True)),
        progress=lambda done, total: progress("reading", done, total, "IPM cards read"),
        cancel=cancel,
    )
    if cancel.is_set():
        return None
    frame = reports.pairs_report(
        kind,
        liscio=lis,
        ipm=ipm_recs,
        state=store.state([kind]),
        status=status,
        last_synced=last_sync_times(store),
    )
    folder = reports_dir(firm_slug)
    files = {}
    for fmt in FORMATS:
        path = folder / f"pmtools-{kind.value}-{status}-{job_id[:8]}.{fmt}"
        write_owner_only(path, reports.report_bytes(frame, fmt))
        files[fmt] = str(path)
    prune(folder)
    progress("reading", 1, 1, "written")
    log.info("report job %s: %s rows written", job_id, len(frame))
    return {"rows": len(frame), "files": files, "kind": kind.value, "status": status}
