"""The migration review: every record a person must decide, decided safely, in bulk, fast.

The API (stable: names are added, never renamed)::

    # what the review is built from (reads: Liscio lists, IPM rows cached by Sync Now)
    sources = load_sources(store=store, liscio=liscio, ipm=ipm, kinds=[Kind.CONTACTS])
    queue = build_queue(sources)                       # pure; a few seconds at scale 20

    # the queue: filters, sort, pages, counts (milliseconds)
    page = queue.query(kind="contacts", side="liscio", status=["likely match"],
                       reason=["same email"], min_score=90, sort="score", page=0, page_size=50)
    page.rows[0]          # QueueRow: record, best candidate, reason, score, tie, group, details
    queue.counts(kind="contacts")                      # {"status": {...}, "reason": {...}, ...}
    queue.select(status=["likely match"])              # every row the filter shows
    queue.group(row.group)                             # an ambiguous group's rows, both sides
    queue = queue.without([row.key])                   # after an action: no rebuild

    # what linking one pair would write, before → after on both sides
    pair_writes(kind, liscio_record, ipm_record)       # PairWrites; .unread: card not loaded
    row_writes(row)                                    # the same for a queue row's suggestion
    load_card(kind, ipm_record, ipm=ipm, store=store)  # reads the IPM card (one request)
    # a bulk preview with IPM fields "not read yet": read those cards (progress, cancel),
    # then preview again with the loaded records
    cards = load_cards(kind, unread_records(shown)[kind], ipm=ipm, store=store,
                       progress=lambda done, total: ..., cancel=event)
    sources = [with_cards(s, cards.values()) for s in sources]
    link_preview(kind, liscio_id, ipm_key, liscio=..., ipm=...)   # from fresh reads
    operations.link(kind, liscio_id, ipm_key, ..., expected=that_preview)

    # likely duplicates before a create (IPM cannot delete)
    likely_duplicates(kind, side, record, others=other_side_records)   # [Duplicate]
    operations.create_in_ipm(kind, liscio_id, ..., anyway=False)  # raises DuplicateRisk

    # bulk: decisions → preview (whole effect, refusals) → apply (one run, undoable)
    decisions = [ReviewDecision(kind=..., side=..., record_id=..., verdict=Verdict.LINK)]
    shown = preview(decisions, queue=queue, sources=sources)      # BulkPreview; pure, fast
    result = apply_preview(shown, store=store, liscio=liscio, ipm=ipm, started_by="app",
                           progress=callback, cancel=threading.Event())   # BulkResult

    # the spreadsheet round trip (``pmtools review export|import``)
    write_sheet(to_frame(queue.select()), "review.xlsx")
    decisions, problems = parse_decisions(read_sheet("review.xlsx"))

Records are named by name in every message; ids appear only as the spreadsheet's columns.

This package is the review's one door for the interfaces (the CLI, the workbench): what is
decided and shown is pure (:mod:`pmtools.analysis.review`); reads, card loads and the bulk
apply are the engine's (:mod:`pmtools.engine.review`).
"""

from pmtools.analysis.review.bulk import (
    BulkPreview,
    BulkResult,
    PreviewItem,
    Refusal,
    ReviewDecision,
    Verdict,
    preview,
)
from pmtools.analysis.review.duplicates import (
    HIGH_SCORE,
    Duplicate,
    DuplicateFinder,
    describe_duplicates,
    likely_duplicates,
)
from pmtools.analysis.review.queue import (
    KindRecords,
    QueueKey,
    QueuePage,
    QueueRow,
    QueueStatus,
    ReviewQueue,
    build_queue,
    other_side,
    tells_apart,
)
from pmtools.analysis.review.sheet import (
    COLUMNS,
    DECISION_WORDS,
    RowProblem,
    parse_decisions,
    read_sheet,
    to_frame,
    write_sheet,
)
from pmtools.analysis.review.writes import (
    FieldWrite,
    PairWrites,
    pair_writes,
    row_writes,
    show_value,
    unread_records,
)
from pmtools.engine.review import (
    apply_preview,
    ipm_records,
    link_preview,
    load_card,
    load_cards,
    load_sources,
    with_cards,
)

__all__ = [
    "COLUMNS",
    "DECISION_WORDS",
    "HIGH_SCORE",
    "BulkPreview",
    "BulkResult",
    "Duplicate",
    "DuplicateFinder",
    "FieldWrite",
    "KindRecords",
    "PairWrites",
    "PreviewItem",
    "QueueKey",
    "QueuePage",
    "QueueRow",
    "QueueStatus",
    "Refusal",
    "ReviewDecision",
    "ReviewQueue",
    "RowProblem",
    "Verdict",
    "apply_preview",
    "build_queue",
    "describe_duplicates",
    "ipm_records",
    "likely_duplicates",
    "link_preview",
    "load_card",
    "load_cards",
    "load_sources",
    "other_side",
    "pair_writes",
    "parse_decisions",
    "row_writes",
    "preview",
    "read_sheet",
    "show_value",
    "tells_apart",
    "to_frame",
    "unread_records",
    "with_cards",
    "write_sheet",
]
