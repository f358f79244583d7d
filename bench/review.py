"""Review benchmark: building the review queue, its queries, and a bulk preview of 1,000 links.

The firm is the simulator's demo dataset at scale 20 (about 6,000 organizations and 18,000
people in IPM), read through the real connectors over HTTP, after its exact-name matches are
linked (what the first Sync Now leaves: ~6,400 unmatched and ~2,600 ambiguous records), or a
synthetic firm of N records a kind and side (:func:`bench.workbench.synthetic_firm`). Measured,
server side:

- *build*: :func:`pmtools.review.build_queue` over both kinds (ranking every record to decide);
- *query*: :meth:`ReviewQueue.query` with a filter, a sort by score, a search, and counts;
- *preview*: :func:`pmtools.review.preview` of LINK decisions for the first 1,000 likely
  matches (the issue's goal: 2 s at scale 20), with how many it accepts and refuses.

Wall-clock times are reported, never asserted in tests. Writes ``bench/results/review.json``
and ``review.md``. Run: ``python -m bench review [--scales scale20] [--links 1000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import RESULTS
from bench.workbench import _Samples, firms, scale_source
from pmtools.core.matching import match
from pmtools.core.plan import Link, LinkHow, SyncState
from pmtools.review import KindRecords, ReviewDecision, Verdict, build_queue, preview

BUILD_GOAL_S = 5.0  # "a few seconds at most"
PREVIEW_GOAL_S = 2.0  # 1,000 links planned and shown
QUERY_GOAL_MS = 100.0  # a filter, sort or search: milliseconds


def linked_sources(records: dict) -> list[KindRecords]:
    """Both kinds after a first Sync Now: exact-name matches linked, the rest to decide."""
    out = []
    for kind, (liscio, ipm) in records.items():
        pairs = match(kind, liscio, ipm, SyncState()).pairs
        links = tuple(
            Link(
                kind=kind,
                liscio_id=p.liscio_id,
                ipm_key=p.ipm_key,
                how=LinkHow.AUTOMATIC,
                first_synced_at="2026-11-26T12:00:00Z",
            )
            for p in pairs
        )
        out.append(
            KindRecords(
                kind=kind, liscio=tuple(liscio), ipm=tuple(ipm), state=SyncState(links=links)
            )
        )
    return out


def link_decisions(queue, n: int) -> list[ReviewDecision]:
    """``n`` LINK decisions making distinct links, as a person's bulk selection would.

    First the likely matches (not tied, each record and each target once); then, to reach
    ``n`` where a firm has fewer, records without a likely candidate linked to a given id
    (Link To) of the other side's.
    """
    out, used = [], set()
    for r in queue.select(status=["likely match"], sort="score"):
        ends = {(r.kind, r.liscio_id), (r.kind, r.ipm_key)}
        if r.tie or ends & used or len(out) >= n:
            continue
        used |= ends
        out.append(
            ReviewDecision(kind=r.kind, side=r.side, record_id=r.record_id, verdict=Verdict.LINK)
        )
    lonely = [
        r
        for r in queue.select(status=["no candidate", "ambiguous"])
        if (r.kind, r.record_id) not in used
    ]
    for kind in sorted({r.kind for r in lonely}):
        lefts = [r for r in lonely if r.kind is kind and r.side.value == "liscio"]
        rights = [r for r in lonely if r.kind is kind and r.side.value == "ipm"]
        for left, right in zip(lefts, rights):
            if len(out) >= n:
                break
            out.append(
                ReviewDecision(
                    kind=kind,
                    side=left.side,
                    record_id=left.record_id,
                    verdict=Verdict.LINK,
                    link_to=right.record_id,
                )
            )
    return out[:n]


def measure(sources: list[KindRecords], *, links: int, repeat: int = 3) -> dict[str, object]:
    """Every measurement for one firm."""
    build = _Samples()
    built: list = []
    for _ in range(repeat):
        build.time(lambda: built.append(build_queue(sources)))
    queue = built[-1]
    queries = _Samples()
    for filters in (
        {"status": ["likely match"], "sort": "score"},
        {"kind": "contacts", "side": "ipm", "min_score": 90, "max_score": 99},
        {"reason": ["same email", "close spelling"]},
        {"search": "smith john"},
        {"search": "obrien"},
        {"status": ["ambiguous"], "page": 3},
    ):
        for _ in range(repeat):
            queries.time(lambda f=filters: queue.query(**f))
    counts = _Samples()
    for _ in range(repeat):
        counts.time(lambda: queue.counts(kind="contacts"))
    decisions = link_decisions(queue, links)
    shown_box: list = []
    bulk = _Samples()
    for _ in range(repeat):
        bulk.time(lambda: shown_box.append(preview(decisions, queue=queue, sources=sources)))
    shown = shown_box[-1].counts()
    status = queue.counts()["status"]
    return {
        "records": sum(len(s.liscio) + len(s.ipm) for s in sources),
        "queue_rows": len(queue),
        "queue_status": status,
        "build": build.summary(),
        "query": queries.summary(),
        "counts": counts.summary(),
        "preview": bulk.summary(),
        "preview_decisions": len(decisions),
        "preview_links": shown["links"],
        "preview_refused": shown["refused"],
        "preview_field_writes": shown["ipm_fields_written"] + shown["liscio_fields_filled"],
        "build_ratio": round(build.summary()["median_ms"] / 1000 / BUILD_GOAL_S, 3),
        "preview_ratio": round(bulk.summary()["median_ms"] / 1000 / PREVIEW_GOAL_S, 3),
    }


def to_markdown(doc: dict) -> str:
    """The results as a short Markdown page."""
    lines = [
        f"# Review benchmark ({doc['when']}, {doc['machine']})",
        "",
        f"Goals: build the queue < {BUILD_GOAL_S:.0f} s, a query < {QUERY_GOAL_MS:.0f} ms, "
        f"a bulk preview of 1,000 links < {PREVIEW_GOAL_S:.0f} s (ratio = median / goal). "
        f"In brackets: CPU time (median). Load average: {doc['load_average']}.",
        "",
        "| scale | source | records | queue rows | build | query p50 / p95 | counts p95 "
        "| preview (decisions → links, refused) | build ratio | preview ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["rows"]:
        b, q, c, p = r["build"], r["query"], r["counts"], r["preview"]
        lines.append(
            f"| {r['scale']} | {r['source']} | {r['records']:,} | {r['queue_rows']:,} | "
            f"{b['median_ms'] / 1000:.2f} s ({b['cpu_median_ms'] / 1000:.2f}) | "
            f"{q['median_ms']:.1f} / {q['p95_ms']:.1f} ms | {c['p95_ms']:.1f} ms | "
            f"{p['median_ms'] / 1000:.2f} s ({p['cpu_median_ms'] / 1000:.2f}) for "
            f"{r['preview_decisions']:,} → {r['preview_links']:,}, {r['preview_refused']:,} | "
            f"{r['build_ratio']} | {r['preview_ratio']} |"
        )
    lines.append("")
    lines.append(
        "Queue rows by status: "
        + "; ".join(
            f"{r['scale']}: " + ", ".join(f"{n:,} {s}" for s, n in r["queue_status"].items())
            for r in doc["rows"]
        )
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``python -m bench review``; 1 when a goal is missed."""
    parser = argparse.ArgumentParser(prog="bench review", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scales",
        default="scale20",
        help="comma-separated: scale20, demoN, or a number of records a side",
    )
    parser.add_argument("--links", type=int, default=1000, help="LINK decisions previewed")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    rows = []
    load = [os.getloadavg()[0]]
    for scale in args.scales.split(","):
        sys.stderr.write(f"review: {scale}: reading the records...\n")
        sources = linked_sources(firms(scale))
        rows.append(
            {
                "scale": scale,
                "source": scale_source(scale)[0],
                **measure(sources, links=args.links, repeat=args.repeat),
            }
        )
        load.append(os.getloadavg()[0])
    now = datetime.now(UTC).isoformat(timespec="seconds")
    doc = {
        "benchmark": "review",
        "when": now,
        "machine": f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}",
        "load_average": f"{min(load):.1f}–{max(load):.1f} (1 min, {os.cpu_count()} CPUs)",
        "goals": {"build_s": BUILD_GOAL_S, "query_ms": QUERY_GOAL_MS, "preview_s": PREVIEW_GOAL_S},
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "review.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / "review.md").write_text(to_markdown(doc))
    sys.stdout.write(to_markdown(doc))
    ok = all(r["build_ratio"] < 1 and r["preview_ratio"] < 1 for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
