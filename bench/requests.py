"""IPM request benchmark: requests of a Sync Now against their lower bound, and rate-limit use.

Everything runs over real HTTP on loopback against the simulator's demo firm
(:func:`pmtools.sandbox.server.start_sandbox`), with the real sync engine
(:func:`pmtools.engine.sync.run_sync`), a real SQLite state file and the real IPM connector.

**Requests.** At each scale (1 and 20), with no rate limit on either end: a first Sync Now, a
second one right after it (no edits: it sees only what the first one wrote), then 5 Liscio
field edits and 5 IPM business-card edits made over HTTP, and a later Sync Now. Each run has
fresh connectors, as each ``pmtools sync`` has (no card kept in a connector's memory from one
run to the next). Each run's IPM requests (from the connector's counters) are set against a
lower bound computed independently, from the run's plan and records and from the simulator's
timestamps before the run and before the previous one:

- list pages: a full pull needs ``ceil(rows / 100)`` pages of each list; an incremental pull
  must read every row modified since the previous pull (and one row more, to see it is past
  the mark), at 100 rows a page, at least one page per list;
- card reads: an organization's address is only on its business card, so every organization
  whose address the plan compares is read once — every pair of a first sync (its fields are
  first-synced: fill either side or Liscio wins), and on a later sync a linked pair where
  Liscio has an address and the IPM organization changed since the previous sync (an
  unchanged organization's address is known from the last read); a person written in IPM is
  read once, since the PUT replaces the whole card and needs its BusinessCardKey and every
  other value, which list rows lack; an organization written but not compared is read once too;
- writes: one PUT per IPM record the plan writes (all its fields in one card), one POST per
  create.

Goals: a first Sync Now within 1.2x its lower bound; a later Sync Now with few changes costs a
small fraction of the first's requests (read here as at most 10%).

**Rate limit.** Utilisation is requests a second achieved ÷ allowed, from the first to the last
IPM request of a sync, and requests lost to 429 are the 429 answers the connector saw. At
scale 1 with Karbon's real 120 a minute (simulator and connector), for a bounded slice: a first
Sync Now of organizations only. At scale 20 with the limit raised to 3,000 a minute on both
ends, a first Sync Now of organizations only. Goals: utilisation ≥ 0.9, no request lost to 429.
The real-limit run (about three minutes, idle between requests) goes on in a background thread
while the others run, which keeps the whole benchmark near four minutes.

Writes ``bench/results/requests.json`` and ``bench/results/requests.md``.
Run: ``python -m bench requests [--scales 1,20] [--real-limit-scale 1] [--raised-limit 3000]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pmtools import config
from pmtools.connectors.karbon import PAGE_SIZE, IpmConnector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.core.plan import LinkStatus, Op, Plan, SyncPolicy
from pmtools.core.records import Kind, Side, has_value
from pmtools.engine.sync import SyncResult, run_sync
from pmtools.sandbox.server import SandboxServer, start_sandbox
from pmtools.store import Store

log = logging.getLogger(__name__)

SCALES = (1, 20)
REAL_LIMIT = 120
RAISED_LIMIT = 3000
EDITS = 5  # Liscio field edits, and IPM card edits, between the second and the later sync
GOAL_FIRST = 1.2
GOAL_UTILISATION = 0.9
GOAL_LATER = 0.1  # "a small fraction" of the first's requests, as this benchmark reads it
RESULTS = Path(__file__).resolve().parent / "results"
# the simulator's collections holding each kind's records, and their timestamp field
_IPM_COLLECTION = {Kind.ACCOUNTS: "organizations", Kind.CONTACTS: "people"}
_LISCIO_COLLECTION = {Kind.ACCOUNTS: "accounts", Kind.CONTACTS: "contacts"}

Stamps = dict[str, dict[str, str]]  # collection -> record key -> modification time


@dataclass(frozen=True, slots=True, kw_only=True)
class LowerBound:
    """The fewest IPM requests a correct Sync Now needs for one plan (see the module doc)."""

    list_pages: int
    card_reads: int
    puts: int
    posts: int

    @property
    def total(self) -> int:
        """All requests of the bound."""
        return self.list_pages + self.card_reads + self.puts + self.posts


def stamps(server: SandboxServer) -> Stamps:
    """Every record's modification time in the simulator, by collection and key."""
    out: Stamps = {}
    for kind in Kind:
        out[_IPM_COLLECTION[kind]] = {
            r[("OrganizationKey" if kind is Kind.ACCOUNTS else "ContactKey")]: r[
                "LastModifiedDateTime"
            ]
            for r in server.state.all(_IPM_COLLECTION[kind])
        }
        out[_LISCIO_COLLECTION[kind]] = {
            r["id"]: r["updated_at"] for r in server.state.all(_LISCIO_COLLECTION[kind])
        }
    return out


def changed(collection: str, now: Stamps, previous: Stamps | None) -> set[str]:
    """Keys of ``collection`` new or modified between two snapshots (all when no previous)."""
    if previous is None:
        return set(now[collection])
    before = previous.get(collection, {})
    return {k for k, v in now[collection].items() if before.get(k) != v}


def pages(rows: int) -> int:
    """List pages holding ``rows`` rows (an empty list still takes one request)."""
    return max(1, math.ceil(rows / PAGE_SIZE))


def lower_bound(
    plan: Plan,
    records: Mapping[tuple[Side, Kind], tuple[Any, ...]],
    *,
    now: Stamps,
    previous: Stamps | None,
    synced_pairs: Mapping[Kind, set[tuple[str, str]]],
) -> LowerBound:
    """The lower bound of one Sync Now's IPM requests, from its plan and records.

    ``now``: the simulator's timestamps just before this run; ``previous``: just before the
    previous run (None for a first Sync Now: full pulls). ``synced_pairs``: the (Liscio id,
    IPM key) pairs whose first sync was done before this run (the stored links).
    """
    list_pages = 0
    for kind in plan.policy.kinds:
        collection = _IPM_COLLECTION[kind]
        total = len(now[collection])
        if previous is None:
            list_pages += pages(total)
        else:  # newest first, down to one row past the previous pull's newest
            list_pages += pages(min(total, len(changed(collection, now, previous)) + 1))
    # IPM records written: one PUT each, whatever the number of fields
    written = {(a.kind, a.ipm_key) for a in plan.actions if a.op is Op.WRITE and a.side is Side.IPM}
    posts = sum(a.op is Op.CREATE_IN_IPM for a in plan.actions)
    reads = set(written)  # a write needs the whole card first
    if Kind.ACCOUNTS in plan.policy.kinds:
        liscio = {r.id: r for r in records.get((Side.LISCIO, Kind.ACCOUNTS), ())}
        ipm_changed = changed("organizations", now, previous)
        done = synced_pairs.get(Kind.ACCOUNTS, set())
        for a in plan.actions:
            if a.kind is not Kind.ACCOUNTS or not a.ipm_key:
                continue
            # first-sync pairs: a MARK_SYNCED (or a SKIP for details not loaded) names them
            if a.op is Op.MARK_SYNCED or (a.op is Op.SKIP and a.field == "address"):
                reads.add((a.kind, a.ipm_key))
        for liscio_id, ipm_key in done:
            account = liscio.get(liscio_id)
            if (
                account is not None
                and not account.archived
                and has_value(account.address)
                and ipm_key in ipm_changed
            ):
                reads.add((Kind.ACCOUNTS, ipm_key))
    return LowerBound(list_pages=list_pages, card_reads=len(reads), puts=len(written), posts=posts)


def first_synced_pairs(store: Store) -> dict[Kind, set[tuple[str, str]]]:
    """The linked pairs whose first sync is done, by kind."""
    return {
        kind: {
            (link.liscio_id, link.ipm_key)
            for link in store.links(kind, status=LinkStatus.LINKED)
            if link.first_synced_at
        }
        for kind in Kind
    }


def connectors(server: SandboxServer, *, rate_limit: float) -> tuple[LiscioConnector, IpmConnector]:
    """Both connectors for the simulator, the IPM one paced to ``rate_limit`` a minute."""
    liscio = LiscioConnector(server.liscio_url, config.SANDBOX_LISCIO_TOKEN)
    ipm = IpmConnector(
        server.ipm_url,
        config.SANDBOX_IPM_TOKEN,
        config.SANDBOX_IPM_ACCESS_KEY,
        rate_limit=rate_limit,
    )
    return liscio, ipm


def make_edits(server: SandboxServer, store: Store, *, count: int = EDITS) -> list[str]:
    """``count`` Liscio field edits and ``count`` IPM card edits on linked pairs, over HTTP.

    Liscio: phones of linked accounts and titles of linked contacts. IPM: websites of linked
    organizations and emails of linked people (each a card GET and a whole-card PUT, by a
    connector of their own, so the measured connector's counters do not see them).
    """
    liscio, ipm = connectors(server, rate_limit=0)
    done: list[str] = []
    try:
        accounts = store.links(Kind.ACCOUNTS, status=LinkStatus.LINKED)
        contacts = store.links(Kind.CONTACTS, status=LinkStatus.LINKED)
        for i in range(count):
            if i % 2 == 0:
                link = accounts[i]
                liscio.update_fields(Kind.ACCOUNTS, link.liscio_id, {"phone": f"(555) 017-{i:04d}"})
                done.append(f"liscio account {link.liscio_id} phone")
            else:
                link = contacts[i]
                liscio.update_fields(Kind.CONTACTS, link.liscio_id, {"title": f"Partner {i}"})
                done.append(f"liscio contact {link.liscio_id} title")
        for i in range(count):
            if i % 2 == 0:
                link = accounts[-1 - i]
                ipm.update_fields(
                    Kind.ACCOUNTS, link.ipm_key, {"website": f"https://edited-{i}.example.com"}
                )
                done.append(f"ipm organization {link.ipm_key} website")
            else:
                link = contacts[-1 - i]
                ipm.update_fields(Kind.CONTACTS, link.ipm_key, {"email": f"edited.{i}@example.com"})
                done.append(f"ipm person {link.ipm_key} email")
    finally:
        liscio.close()
        ipm.close()
    return done


class PhaseClock:
    """A sync's progress callback that times its phases and counts their IPM requests."""

    def __init__(self, ipm: IpmConnector) -> None:
        self._ipm = ipm
        self.events: list[tuple[float, str, int]] = []

    def __call__(self, stage: str, done: int, total: int, message: str) -> None:
        """Note one progress report (``pmtools.engine.sync`` calls this)."""
        self.events.append(
            (time.perf_counter(), _phase(stage, message), self._ipm.stats().requests)
        )

    def phases(self, end: float) -> list[dict[str, Any]]:
        """Seconds and IPM requests by phase, in order of first appearance."""
        totals: dict[str, list[float]] = {}
        final = self._ipm.stats().requests
        for i, (at, phase, count) in enumerate(self.events):
            next_at, next_count = (
                (self.events[i + 1][0], self.events[i + 1][2])
                if i + 1 < len(self.events)
                else (end, final)
            )
            slot = totals.setdefault(phase, [0.0, 0])
            slot[0] += next_at - at
            slot[1] += next_count - count
        return [
            {"phase": p, "seconds": round(t, 2), "ipm_requests": int(n)}
            for p, (t, n) in totals.items()
        ]


def _phase(stage: str, message: str) -> str:
    """The phase that starts with this progress report."""
    if message.startswith("fetching IPM"):
        return "IPM list pages"
    if message.startswith("fetching Liscio") or stage != "linking":
        return "Liscio pulls"  # also the contacts pulled for a first sync's baseline
    if message.startswith("loading IPM"):
        return "IPM details"
    if message == "checking":
        return "matching (details needed)"
    if message == "planning":
        return "planning"
    return "apply (IPM and Liscio writes, state store)"


def one_sync(
    label: str,
    *,
    server: SandboxServer,
    store: Store,
    policy: SyncPolicy,
    previous: Stamps | None,
    rate_limit: float = 0,
) -> tuple[dict[str, Any], Stamps]:
    """Run one Sync Now with fresh connectors (as each ``pmtools sync`` has) and measure it.

    Returns its row and the simulator's stamps taken before it.
    """
    now = stamps(server)
    pairs = first_synced_pairs(store)
    served = server.stats.snapshot().get("ipm", 0)
    liscio, ipm = connectors(server, rate_limit=rate_limit)
    clock = PhaseClock(ipm)
    try:
        start = time.perf_counter()
        result: SyncResult = run_sync(
            liscio=liscio, ipm=ipm, store=store, policy=policy, started_by="bench", progress=clock
        )
        end = time.perf_counter()
        got = ipm.stats()
    finally:
        liscio.close()
        ipm.close()
    bound = lower_bound(result.plan, result.records, now=now, previous=previous, synced_pairs=pairs)
    row = {
        "run": label,
        "outcome": result.outcome,
        "seconds": round(end - start, 2),
        "ipm_requests": got.requests,
        "simulator_ipm_requests": server.stats.snapshot().get("ipm", 0) - served,
        "by_kind": dict(got.by_kind),
        "rate_limited": got.rate_limited,
        "retries": got.retries,
        "lower_bound": asdict(bound) | {"total": bound.total},
        "ratio": round(got.requests / bound.total, 3) if bound.total else None,
        "counts": {k: v for k, v in result.counts.items() if v},
        "phases": clock.phases(end),
    }
    if rate_limit:
        achieved = got.utilisation(rate_limit)  # first to last request of this run
        span = (got.last_at or 0) - (got.first_at or 0)
        row["requests_per_second"] = round((got.requests - 1) / span, 3) if span else None
        row["allowed_per_second"] = round(rate_limit / 60, 3)
        row["utilisation"] = round(achieved, 3) if achieved is not None else None
    return row, now


def measure_requests(scale: int, *, seed: int = 1, edits: int = EDITS) -> dict[str, Any]:
    """First, second and later Sync Now of the demo firm at ``scale``, no rate limit."""
    started = time.perf_counter()  # the simulator's start-up with the firm loaded
    with (
        tempfile.TemporaryDirectory(prefix="pmtools-bench-") as tmp,
        start_sandbox(dataset="demo", seed=seed, scale=scale, rate_limit=0) as server,
        Store.open(Path(tmp) / "state.sqlite") as store,
    ):
        sizes = {
            c: server.state.count(c) for c in ("organizations", "people", "accounts", "contacts")
        }
        startup_seconds = round(time.perf_counter() - started, 2)
        policy = SyncPolicy(force=True)
        first, s1 = one_sync("first", server=server, store=store, policy=policy, previous=None)
        second, s2 = one_sync(
            "second (no edits)", server=server, store=store, policy=policy, previous=s1
        )
        made = make_edits(server, store, count=edits)
        later, _ = one_sync(
            f"later ({edits}+{edits} edits)", server=server, store=store, policy=policy, previous=s2
        )
    later["of_first"] = round(later["ipm_requests"] / first["ipm_requests"], 3)
    second["of_first"] = round(second["ipm_requests"] / first["ipm_requests"], 3)
    return {
        "scale": scale,
        "records": sizes,
        "sandbox_startup_seconds": startup_seconds,
        "edits": made,
        "runs": [first, second, later],
        "goal_first_met": first["ratio"] is not None and first["ratio"] <= GOAL_FIRST,
        "goal_later_met": later["of_first"] <= GOAL_LATER,
    }


def measure_utilisation(scale: int, rate_limit: int, *, seed: int = 1) -> dict[str, Any]:
    """A first Sync Now of organizations only, both ends limited to ``rate_limit`` a minute."""
    with (
        tempfile.TemporaryDirectory(prefix="pmtools-bench-") as tmp,
        start_sandbox(dataset="demo", seed=seed, scale=scale, rate_limit=rate_limit) as server,
        Store.open(Path(tmp) / "state.sqlite") as store,
    ):
        row, _ = one_sync(
            "first, organizations only",
            server=server,
            store=store,
            policy=SyncPolicy(kinds=(Kind.ACCOUNTS,), force=True),
            previous=None,
            rate_limit=rate_limit,
        )
        served = server.stats.snapshot()
        served_429 = served.get("ipm:429-limit", 0) + served.get("ipm:429", 0)
    row |= {
        "scale": scale,
        "rate_limit_per_minute": rate_limit,
        "simulator_429s_served": served_429,
    }
    row["goal_met"] = (
        (row.get("utilisation") or 0) >= GOAL_UTILISATION
        and row["rate_limited"] == 0
        and served_429 == 0
    )
    return row


def run(
    scales: tuple[int, ...] = SCALES,
    *,
    real_limit_scale: int | None = 1,
    raised_limit: int = RAISED_LIMIT,
) -> dict[str, Any]:
    """Every measurement; returns the results document."""
    # the run at Karbon's real limit takes minutes but is idle between its requests: it goes
    # on in the background while the others run (each has its own simulator and connectors)
    with ThreadPoolExecutor(max_workers=1) as background:
        real = None
        if real_limit_scale:
            log.info(
                "scale %s: organizations at %s a minute (background)", real_limit_scale, REAL_LIMIT
            )
            real = background.submit(measure_utilisation, real_limit_scale, REAL_LIMIT)
        requests = []
        for scale in scales:
            log.info("scale %s: first, second and later Sync Now, no rate limit", scale)
            requests.append(measure_requests(scale))
        limits = []
        for scale in scales:
            if scale != real_limit_scale:
                log.info("scale %s: organizations at %s a minute", scale, raised_limit)
                limits.append(measure_utilisation(scale, raised_limit))
        if real is not None:
            limits.insert(0, real.result())
    return {
        "benchmark": "requests",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "goals": {
            "first_over_lower_bound_at_most": GOAL_FIRST,
            "later_over_first_at_most": GOAL_LATER,
            "utilisation_at_least": GOAL_UTILISATION,
            "lost_to_429": 0,
        },
        "requests": requests,
        "rate_limit": limits,
    }


def goals_met(doc: Mapping[str, Any]) -> bool:
    """True when every goal of the document is met."""
    return all(r["goal_first_met"] and r["goal_later_met"] for r in doc["requests"]) and all(
        r["goal_met"] for r in doc["rate_limit"]
    )


def _kinds(by_kind: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in by_kind.items())


def to_markdown(doc: Mapping[str, Any]) -> str:
    """The results as Markdown tables."""
    lines = [
        f"IPM request benchmark ({doc['at']}, Python {doc['python']}, {doc['cpus']} CPUs), "
        "the simulator's demo firm over HTTP on loopback.",
        "",
        "## Requests of a Sync Now against the lower bound",
        "",
        f"Goals: a first Sync Now within {GOAL_FIRST}x its lower bound; a later Sync Now "
        f"with few changes a small fraction (here: at most {GOAL_LATER:.0%}) of the "
        "first's requests. No rate limit in these runs.",
        "",
        "| scale | IPM orgs / people | run | IPM requests | lower bound (pages + cards "
        "+ PUTs + POSTs) | actual ÷ bound | ÷ first | requests by kind | goal |",
        "|---:|---:|:---|---:|---:|---:|---:|:---|:---:|",
    ]
    for block in doc["requests"]:
        sizes = block["records"]
        for i, r in enumerate(block["runs"]):
            b = r["lower_bound"]
            goal = "—"
            if i == 0:
                goal = "met" if block["goal_first_met"] else "missed"
            elif i == len(block["runs"]) - 1:
                goal = "met" if block["goal_later_met"] else "missed"
            lines.append(
                f"| {block['scale']} | {sizes['organizations']:,} / {sizes['people']:,} "
                f"| {r['run']} | {r['ipm_requests']:,} | {b['total']:,} ({b['list_pages']:,} + "
                f"{b['card_reads']:,} + {b['puts']:,} + {b['posts']:,}) | {r['ratio']:.2f}x "
                f"| {r.get('of_first', 1.0):.3f} | {_kinds(r['by_kind'])} | {goal} |"
            )
    lines += [
        "",
        "## Rate-limit utilisation",
        "",
        f"Goals: utilisation (requests a second achieved ÷ allowed, first to last IPM "
        f"request) at least {GOAL_UTILISATION}; no request lost to 429. Both the "
        "simulator and the connector hold the limit; the slice is a first Sync Now of "
        "organizations only. The run at the real limit goes on in the background while "
        "the other measurements run.",
        "",
        "| scale | limit a minute | IPM requests | seconds | achieved / s | allowed / s "
        "| utilisation | 429s seen | goal |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in doc["rate_limit"]:
        util = "—" if r["utilisation"] is None else f"{r['utilisation']:.3f}"
        lines.append(
            f"| {r['scale']} | {r['rate_limit_per_minute']:,} | {r['ipm_requests']:,} "
            f"| {r['seconds']:.1f} | {r['requests_per_second']} | {r['allowed_per_second']} "
            f"| {util} | {r['rate_limited']} | {'met' if r['goal_met'] else 'missed'} |"
        )
    lines += [
        "",
        "Where the time of the rate-limited runs went (from the sync's progress "
        "reports; a phase with no IPM request lowers utilisation when it falls between "
        "the first and the last IPM request):",
        "",
        "| scale | limit a minute | phase | seconds | IPM requests | rate ÷ allowed |",
        "|---:|---:|:---|---:|---:|---:|",
    ]
    for r in doc["rate_limit"]:
        allowed = r["rate_limit_per_minute"] / 60
        for ph in r["phases"]:
            rate = (
                f"{ph['ipm_requests'] / ph['seconds'] / allowed:.2f}"
                if ph["seconds"] > 0 and ph["ipm_requests"]
                else "—"
            )
            lines.append(
                f"| {r['scale']} | {r['rate_limit_per_minute']:,} | {ph['phase']} "
                f"| {ph['seconds']:.1f} | {ph['ipm_requests']:,} | {rate} |"
            )
    lines += [
        "",
        "## How the lower bound is counted",
        "",
        "Computed from each run's plan and records and the simulator's timestamps, not "
        "from the connector's counters:",
        "",
        "- list pages: ceil(rows / 100) per list on a full pull; on an incremental pull "
        "the rows modified since the previous pull plus one (the row that shows the "
        "mark is passed), at least one page per list;",
        "- card reads: every organization whose address the plan compares (all pairs of "
        "a first sync; on a later sync, linked pairs where Liscio has an address and "
        "the IPM organization changed since the previous sync — an unchanged one's "
        "address is known from the last read), because list rows carry no "
        "organization address; every person or organization written in IPM, because "
        "the PUT replaces the whole card and needs its key and all its other values, "
        "which list rows lack;",
        "- writes: one PUT per IPM record written (all its fields at once), one POST per create.",
        "",
        "The second run follows the first with no edits, so it sees what the first one "
        "wrote; the later run follows 5 Liscio field edits and 5 IPM card edits made "
        "over HTTP. The runs are seconds apart, so the engine's 5-minute overlap on "
        "incremental pulls (`pmtools.engine.sync.OVERLAP`) re-reads every row the first run "
        "wrote; runs minutes apart would not.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m bench requests``; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(prog="bench requests", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scales", default=",".join(map(str, SCALES)), help="demo dataset scales, comma-separated"
    )
    parser.add_argument(
        "--real-limit-scale",
        type=int,
        default=1,
        help="the scale measured at Karbon's 120 a minute (0: none)",
    )
    parser.add_argument(
        "--raised-limit",
        type=int,
        default=RAISED_LIMIT,
        help="requests a minute for the other scales' utilisation runs",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("pmtools").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    doc = run(
        tuple(int(s) for s in args.scales.split(",") if s),
        real_limit_scale=args.real_limit_scale or None,
        raised_limit=args.raised_limit,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "requests.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / "requests.md").write_text(to_markdown(doc))
    sys.stdout.write(to_markdown(doc))
    return 0 if goals_met(doc) else 1


if __name__ == "__main__":
    sys.exit(main())
