"""CLI: ``firm list`` and ``firm show`` — the registered firms for people (never their keys).

Everything here reads the registry only (no request to a service): the identities were
recorded by ``firm add`` and ``firm test``.
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from pmtools.core.text import for_terminal


def firm_row(firm: Any, registry: Any, where: str) -> dict[str, Any]:
    """One firm as a dict for people (and ``--json``): its services, identities, last job."""
    from urllib.parse import urlsplit

    last = registry.last_job(firm.slug)
    active = registry.active_job(firm.slug)
    job = active or last

    def host(url: str | None) -> str:
        return urlsplit(url).netloc if url else "not set"

    return {
        "name": firm.name,
        "slug": firm.slug,
        "services": "simulator"
        if firm.simulator
        else f"IPM {host(firm.ipm_url)}, Liscio {host(firm.liscio_url)}",
        "ipm_url": firm.ipm_url,
        "liscio_url": firm.liscio_url,
        "ipm_identity": firm.ipm_identity or "not checked yet",
        "liscio_identity": firm.liscio_identity or "not checked yet",
        "rate_limit": firm.ipm_rate_limit,
        "schedule": f"every {minutes(firm.schedule_minutes)}" if firm.schedule_minutes else "off",
        "next_scheduled_at": firm.next_scheduled_at(),
        "last_job": None
        if job is None
        else {
            "kind": job.kind,
            "state": job.state,
            "outcome": job.outcome,
            "at": job.finished_at or job.started_at or job.created_at,
            "done": job.done,
            "total": job.total,
            "message": job.message,
        },
        "keys": where,
    }


def minutes(count: int) -> str:
    """A schedule's period in words: "minute", "45 minutes", "2 hours"."""
    if count == 1:
        return "minute"
    if count % 60 == 0:
        hours = count // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{count} minutes"


def _job_words(job: dict[str, Any] | None) -> str:
    if job is None:
        return "none yet"
    kind = job["kind"].replace("_", " ")
    at = (job["at"] or "")[:16].replace("T", " ")
    active = job["state"] in ("queued", "running")
    if active:
        progress = f" {job['done']}/{job['total']}" if job["total"] else ""
        return f"{kind} {job['state']}{progress} since {at} UTC"
    return f"{kind} {job['outcome'] or job['state']} {at} UTC"


def cmd_list(args: argparse.Namespace) -> int:
    """``pmtools firm list``."""
    from pmtools.store.backend import backend_from_env
    from pmtools.store.secrets import find_secrets

    backend = backend_from_env()
    with backend.registry() as registry:
        rows = []
        for firm in registry.list_firms():
            found, store = find_secrets(backend.home, firm.slug)
            where = store.where() if found else "missing"
            rows.append(firm_row(firm, registry, where))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print("no firms registered yet; add one with `pmtools firm add NAME`")
        return 0
    table = [("Firm", "Services", "IPM", "Liscio", "Schedule", "Last job")]
    for r in rows:
        table.append(
            (
                r["name"],
                r["services"],
                r["ipm_identity"],
                r["liscio_identity"],
                r["schedule"],
                _job_words(r["last_job"]),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        print(for_terminal(line.rstrip()))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``pmtools firm show NAME``."""
    from pmtools.store.backend import backend_from_env
    from pmtools.store.secrets import find_secrets

    backend = backend_from_env()
    with backend.registry() as registry:
        firm = registry.get_firm(args.name)
        found, store = find_secrets(backend.home, firm.slug)
        if found:
            where = store.where()
        elif firm.simulator:
            where = "the simulator's documented credentials (not secrets)"
        else:
            where = f"missing: enter them with `pmtools firm add {shlex.quote(firm.name)} --update`"
        row = firm_row(firm, registry, where)
    row["state"] = str(backend.store_path(firm.slug))
    if args.json:
        print(json.dumps(row, indent=1))
        return 0
    lines = [
        ("Firm", row["name"]),
        ("IPM", f"{row['ipm_url'] or 'not set'} — {row['ipm_identity']}"),
        ("Liscio", f"{row['liscio_url'] or 'not set'} — {row['liscio_identity']}"),
        ("IPM requests a minute", str(row["rate_limit"])),
        ("Keys", row["keys"]),
        ("State", row["state"]),
        ("Schedule", row["schedule"]),
        ("Last job", _job_words(row["last_job"])),
    ]
    for label, value in lines:
        print(for_terminal(f"{label + ':':<23}{value}"))
    return 0
