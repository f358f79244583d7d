"""The forecast of a Sync Now: what it will do and the HTTP requests it will send. Pure.

Counted from a plan made without IPM business cards (the engine's
:mod:`pmtools.engine.forecast` reads only the lists, which a sync reads anyway), by the code
paths of :mod:`pmtools.engine.apply` and the two connectors:

- IPM: one ``TenantSettings`` read (the tenant guard); the list pages of each kind pulled
  (100 rows a page, at least one); one card read per organization whose address the plan
  compares (``details``: the list rows carry no address); for each IPM record written, one
  PUT with all its fields, preceded by a card read (``card``) unless the card was read for
  planning less than ``card_ttl`` seconds before (only organizations' are; at the rate limit,
  requests are ``60 / rate`` seconds apart); one POST per create.
- Liscio: one ``/v1/firm`` read; the list pages of both kinds (a first sync keeps every Liscio
  record as its baseline); one PATCH per Liscio record filled; one POST per create.

What the forecast cannot know without the cards is each organization's IPM address: whether
the pair's first sync writes it to IPM (Liscio's differs) or fills it in Liscio (Liscio has
none). The engine reads a sample of those cards and the rest are estimated from the sample's
shares; ``*_low``/``*_high`` bound the totals whatever the unread cards hold. With every card
sampled the forecast is exact but for failures (retries, 409s, records changed meanwhile).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pmtools.core.plan import Action, Op, Plan, SyncPolicy
from pmtools.core.planner import plan_pair, preflight_problem
from pmtools.core.records import Kind, Record, Side, has_value
from pmtools.core.rulebook import Rule
from pmtools.core.rules import email_problem

PAGE_SIZE = 100  # rows a list page, both services (karbon.PAGE_SIZE, liscio.PAGE_SIZE)
CARD_TTL = 120.0  # seconds a card read for planning is reused by a write (IpmConnector)
HEADROOM = 1.01  # the rate limiter's spacing above 60 / rate (connectors.http.RateLimiter)
KARBON_RATE = 120  # Karbon's published limit, requests a minute per firm and application

Pair = tuple[Kind, str, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Requests:
    """HTTP requests to one service, by what they are for."""

    check: int = 0  # who the service is (the tenant guard)
    list: int = 0  # list pages
    details: int = 0  # IPM business cards read to plan (organizations' addresses)
    card: int = 0  # IPM cards read just before a write (the PUT replaces the whole card)
    write: int = 0  # PUT (IPM) or PATCH (Liscio), one per record written
    create: int = 0  # POST

    @property
    def total(self) -> int:
        """All of them."""
        return self.check + self.list + self.details + self.card + self.write + self.create

    def as_dict(self) -> dict[str, int]:
        """By purpose, with the total (for ``--json``)."""
        return {
            "check": self.check,
            "list": self.list,
            "details": self.details,
            "card": self.card,
            "write": self.write,
            "create": self.create,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class KindForecast:
    """What a sync will do with one kind (accounts/organizations or contacts/people)."""

    kind: Kind
    liscio_records: int
    ipm_records: int
    will_link: int  # pairs linked by an exact, unique name
    ambiguous_liscio: int  # records of a name shared by several: a person decides
    ambiguous_ipm: int
    unmatched_liscio: int  # no IPM record has the name (link by hand or Create in IPM)
    unmatched_ipm: int  # no Liscio record has the name (Create in Liscio)
    created_in_ipm: int  # Liscio records new since the first sync, created in IPM
    ipm_fields: int  # fields written to IPM (estimated where cards were not read)
    liscio_fields: int  # empty Liscio fields filled from IPM (estimated likewise)
    addresses_unread: int  # organizations whose IPM address the forecast estimated
    record_errors: int  # records that cannot be read or written as they are

    @property
    def review(self) -> int:
        """Records a person should look at: ambiguous and unmatched, both sides."""
        return (
            self.ambiguous_liscio + self.ambiguous_ipm + self.unmatched_liscio + self.unmatched_ipm
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Forecast:
    """What a Sync Now will do and cost, counted before it runs (see the module doc)."""

    first_sync: bool
    kinds: tuple[KindForecast, ...]
    ipm: Requests  # the estimate
    liscio: Requests
    ipm_low: int  # whatever the unread cards hold, the IPM requests lie within these
    ipm_high: int
    liscio_low: int
    liscio_high: int
    rate_limit: int  # the firm's IPM requests a minute (0: not paced)
    card_ttl: float = CARD_TTL
    preflight: str | None = None  # why the first sync would be refused, unless forced
    sampled: int = 0  # cards the forecast read to estimate the unread addresses
    read_ipm: int = 0  # requests the forecast itself sent
    read_liscio: int = 0
    read_seconds: float = 0.0  # how long the forecast took
    unreadable: tuple[str, ...] = field(default=(), compare=False)  # their messages

    @property
    def rate(self) -> int:
        """The rate the time is told at: the firm's, or Karbon's when the firm has none."""
        return self.rate_limit or KARBON_RATE

    def minutes(self, requests: int | None = None) -> float:
        """Minutes ``requests`` (default: the sync's IPM requests) take at :attr:`rate`."""
        count = self.ipm.total if requests is None else requests
        return count * HEADROOM / self.rate

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (``pmtools sync --forecast --json``)."""
        return {
            "first_sync": self.first_sync,
            "kinds": {
                str(k.kind): {
                    "liscio_records": k.liscio_records,
                    "ipm_records": k.ipm_records,
                    "will_link": k.will_link,
                    "ambiguous_liscio": k.ambiguous_liscio,
                    "ambiguous_ipm": k.ambiguous_ipm,
                    "unmatched_liscio": k.unmatched_liscio,
                    "unmatched_ipm": k.unmatched_ipm,
                    "created_in_ipm": k.created_in_ipm,
                    "ipm_fields": k.ipm_fields,
                    "liscio_fields": k.liscio_fields,
                    "addresses_unread": k.addresses_unread,
                    "record_errors": k.record_errors,
                }
                for k in self.kinds
            },
            "ipm_requests": self.ipm.as_dict() | {"low": self.ipm_low, "high": self.ipm_high},
            "liscio_requests": self.liscio.as_dict()
            | {"low": self.liscio_low, "high": self.liscio_high},
            "rate_limit": self.rate_limit,
            "minutes": round(self.minutes(), 1),
            "minutes_low": round(self.minutes(self.ipm_low), 1),
            "minutes_high": round(self.minutes(self.ipm_high), 1),
            "preflight": self.preflight,
            "sampled_cards": self.sampled,
            "forecast_requests": {"ipm": self.read_ipm, "liscio": self.read_liscio},
            "forecast_seconds": round(self.read_seconds, 1),
        }


def pages(rows: int) -> int:
    """List pages holding ``rows`` rows (an empty list still takes one request)."""
    return max(1, math.ceil(rows / PAGE_SIZE))


@dataclass(kw_only=True)
class _Step:
    """One record's writes on one side, at its place in the apply order."""

    pair: Pair
    side: Side
    fields: float = 0.0  # fields written (expected)
    chance: float = 1.0  # probability the step sends its write at all
    certain: bool = True  # False: its request depends on a card the forecast did not read


def count_forecast(
    plan: Plan,
    records: Mapping[tuple[Side, Kind], Sequence[Record]],
    *,
    listed: Mapping[tuple[Side, Kind], int],
    policy: SyncPolicy,
    sampled: Mapping[str, Record] | None = None,
    rate_limit: int = KARBON_RATE,
    card_ttl: float = CARD_TTL,
    unreadable: Sequence[tuple[Kind, str]] = (),
) -> Forecast:
    """The :class:`Forecast` of ``plan`` (planned without IPM cards) and its records.

    ``listed``: rows each listing returned (unreadable rows too); ``sampled``: IPM
    organizations (by key) whose cards the engine read for the estimate; ``policy``: the
    sync's own (its duplicate guard is told, not raised); ``unreadable``: (kind, message) of
    each record a listing could not read (a record error of the sync).
    """
    sampled = sampled or {}
    by_id = {(side, k, r.id): r for (side, k), recs in records.items() for r in recs}
    undecided = _undecided(plan)
    first = {(a.kind, a.liscio_id, a.ipm_key) for a in plan.actions if a.op is Op.LINK}
    resolved: dict[Pair, tuple[Action, ...]] = {}
    for pair in undecided:
        rec = sampled.get(pair[2])
        lis = by_id.get((Side.LISCIO, pair[0], pair[1]))
        if rec is not None and rec.details_complete and lis is not None:
            resolved[pair] = plan_pair(
                pair[0], lis, rec, first_sync=plan.first_sync or pair in first
            )
    share_ipm, share_fill = _shares(resolved, by_id)
    steps = _steps(plan, undecided, resolved, by_id, share_ipm, share_fill)
    # cards are read in the order the IPM list gave the records (engine.fetch.load_details)
    order = {(p[0], p[2]): i for i, p in enumerate(_in_list_order(undecided, records))}
    ipm, liscio, bounds = _requests(plan, steps, order, listed, rate_limit, card_ttl)
    kinds = tuple(
        _kind_forecast(kind, plan, records, steps, undecided, resolved, unreadable)
        for kind in plan.policy.kinds
    )
    problem = None
    if plan.first_sync:
        problem = preflight_problem(
            liscio_counts={
                k: sum(not r.archived for r in records.get((Side.LISCIO, k), ()))
                for k in policy.kinds
            },
            ipm_counts={k: len(records.get((Side.IPM, k), ())) for k in policy.kinds},
            policy=policy,
        )
    return Forecast(
        first_sync=plan.first_sync,
        kinds=kinds,
        ipm=ipm,
        liscio=liscio,
        ipm_low=bounds[0],
        ipm_high=bounds[1],
        liscio_low=bounds[2],
        liscio_high=bounds[3],
        rate_limit=rate_limit,
        card_ttl=card_ttl,
        preflight=problem,
        sampled=len(resolved),
        unreadable=tuple(message for _kind, message in unreadable),
    )


def _undecided(plan: Plan) -> list[Pair]:
    """Pairs whose IPM card was not read (an address to compare), in plan order."""
    seen: dict[Pair, None] = {}
    for a in plan.actions:
        if a.op is Op.SKIP and a.rule == Rule.SKIP_DETAILS_NOT_LOADED:
            assert a.liscio_id is not None and a.ipm_key is not None
            seen.setdefault((a.kind, a.liscio_id, a.ipm_key), None)
    return list(seen)


def undecided_keys(plan: Plan) -> list[str]:
    """IPM keys whose card a sync reads to plan (the forecast samples among them)."""
    return [pair[2] for pair in _undecided(plan)]


def _in_list_order(
    pairs: list[Pair], records: Mapping[tuple[Side, Kind], Sequence[Record]]
) -> list[Pair]:
    """``pairs`` in the order their IPM records were listed (the order cards are read)."""
    position = {
        (kind, r.id): i
        for (side, kind), recs in records.items()
        if side is Side.IPM
        for i, r in enumerate(recs)
    }
    return sorted(pairs, key=lambda p: (list(Kind).index(p[0]), position.get((p[0], p[2]), 0)))


def _liscio_has_address(pair: Pair, by_id: Mapping[tuple[Side, Kind, str], Record]) -> bool:
    rec = by_id.get((Side.LISCIO, pair[0], pair[1]))
    return rec is not None and has_value(rec.address)


def _shares(
    resolved: Mapping[Pair, tuple[Action, ...]], by_id: Mapping[tuple[Side, Kind, str], Record]
) -> tuple[float | None, float | None]:
    """Of the sampled pairs: the share whose address is written to IPM (Liscio has one), and
    the share whose Liscio address is filled (Liscio has none); None without a sample."""
    written, with_address, filled, without = 0, 0, 0, 0
    for pair, actions in resolved.items():
        address = [a for a in actions if a.op is Op.WRITE and a.field == "address"]
        if _liscio_has_address(pair, by_id):
            with_address += 1
            written += any(a.side is Side.IPM for a in address)
        else:
            without += 1
            filled += any(a.side is Side.LISCIO for a in address)
    return (
        written / with_address if with_address else None,
        filled / without if without else None,
    )


def _steps(
    plan: Plan,
    undecided: list[Pair],
    resolved: Mapping[Pair, tuple[Action, ...]],
    by_id: Mapping[tuple[Side, Kind, str], Record],
    share_ipm: float | None,
    share_fill: float | None,
) -> list[_Step]:
    """The write steps apply will take, in its order (a record's writes at the first one's
    place), sampled pairs as the cards say and unread ones as the shares estimate."""
    steps: dict[tuple[Pair, Side], _Step] = {}
    unread = set(undecided)

    def add(pair: Pair, side: Side, fields: float, chance: float, certain: bool) -> None:
        step = steps.get((pair, side))
        if step is None:
            steps[(pair, side)] = _Step(
                pair=pair, side=side, fields=fields, chance=chance, certain=certain
            )
        else:
            step.fields += fields
            step.chance = 1.0 - (1.0 - step.chance) * (1.0 - chance)
            step.certain = step.certain or certain  # one sure write: the request is sure

    # The pairs in plan order: each pair's steps land at its first write, or at its link.
    order: dict[Pair, None] = {}
    for a in plan.actions:
        if a.op in (Op.LINK, Op.WRITE) or a.op is Op.SKIP and a.ipm_key and a.liscio_id:
            order.setdefault((a.kind, a.liscio_id or "", a.ipm_key or ""), None)
    writes: dict[Pair, list[Action]] = {}
    for a in plan.actions:
        if a.op is Op.WRITE and a.liscio_id and a.ipm_key:
            writes.setdefault((a.kind, a.liscio_id, a.ipm_key), []).append(a)
    for pair in order:
        actions = list(resolved.get(pair, writes.get(pair, [])))
        for a in actions:
            if a.op is not Op.WRITE or a.side is None:
                continue
            if a.field == "email" and email_problem(a.after) is not None:
                continue  # refused before sending: a record error, no request
            add(pair, a.side, 1.0, 1.0, True)
        if pair in unread and pair not in resolved:
            if _liscio_has_address(pair, by_id):
                share = 1.0 if share_ipm is None else share_ipm
                add(pair, Side.IPM, share, share, False)
            else:
                share = 1.0 if share_fill is None else share_fill
                add(pair, Side.LISCIO, share, share, False)
    return list(steps.values())


def _requests(
    plan: Plan,
    steps: list[_Step],
    order: Mapping[tuple[Kind, str], int],
    listed: Mapping[tuple[Side, Kind], int],
    rate_limit: int,
    card_ttl: float,
) -> tuple[Requests, Requests, tuple[int, int, int, int]]:
    """Both services' requests (estimates), and (IPM low, IPM high, Liscio low, Liscio high)."""
    lists = {side: sum(pages(n) for (s, _k), n in listed.items() if s is side) for side in Side}
    creates = {
        Side.IPM: sum(a.op is Op.CREATE_IN_IPM for a in plan.actions),
        Side.LISCIO: sum(a.op is Op.CREATE_IN_LISCIO for a in plan.actions),
    }
    loaded = len(order)
    interval = 60.0 / rate_limit * HEADROOM if rate_limit else 0.0
    cards = puts = 0.0
    cards_low = cards_high = puts_low = puts_high = 0
    liscio_writes = 0.0
    liscio_low = liscio_high = 0
    sent = 0.0  # IPM requests apply sent before this step (expected)
    for step in steps:
        if step.side is Side.LISCIO:
            liscio_writes += step.chance
            liscio_low += step.certain
            liscio_high += 1
            continue
        kind, _lid, key = step.pair
        # a card read for planning is reused while fresh: requests are `interval` apart
        read = order.get((kind, key))
        reused = read is not None and (
            interval == 0.0 or (loaded - read + sent) * interval <= card_ttl
        )
        cost = 1 + (0 if reused else 1)
        cards += step.chance * (cost - 1)
        puts += step.chance
        sent += step.chance * cost
        if step.certain:
            cards_low += cost - 1
            puts_low += 1
        cards_high += cost - 1
        puts_high += 1
    ipm = Requests(
        check=1,
        list=lists[Side.IPM],
        details=loaded,
        card=round(cards),
        write=round(puts),
        create=creates[Side.IPM],
    )
    liscio = Requests(
        check=1,
        list=lists[Side.LISCIO],
        write=round(liscio_writes),
        create=creates[Side.LISCIO],
    )
    fixed_ipm = ipm.check + ipm.list + ipm.details + ipm.create
    fixed_liscio = liscio.check + liscio.list + liscio.create
    return (
        ipm,
        liscio,
        (
            fixed_ipm + cards_low + puts_low,
            fixed_ipm + cards_high + puts_high,
            fixed_liscio + liscio_low,
            fixed_liscio + liscio_high,
        ),
    )


def _kind_forecast(
    kind: Kind,
    plan: Plan,
    records: Mapping[tuple[Side, Kind], Sequence[Record]],
    steps: list[_Step],
    undecided: list[Pair],
    resolved: Mapping[Pair, tuple[Action, ...]],
    unreadable: Sequence[tuple[Kind, str]],
) -> KindForecast:
    mine = [a for a in plan.actions if a.kind is kind]

    def count(op: Op, side: Side | None = None) -> int:
        return sum(a.op is op and (side is None or a.side is side) for a in mine)

    errors = sum(
        a.op is Op.WRITE
        and a.field == "email"
        and email_problem(a.after) is not None
        or a.op is Op.SKIP
        and a.rule == Rule.SKIP_UNKNOWN_COUNTRY
        for a in mine
    ) + sum(
        a.op is Op.SKIP and a.rule == Rule.SKIP_UNKNOWN_COUNTRY
        for actions in resolved.values()
        for a in actions
        if a.kind is kind
    )
    return KindForecast(
        kind=kind,
        liscio_records=len(records.get((Side.LISCIO, kind), ())),
        ipm_records=len(records.get((Side.IPM, kind), ())),
        will_link=count(Op.LINK),
        ambiguous_liscio=count(Op.AMBIGUOUS, Side.LISCIO),
        ambiguous_ipm=count(Op.AMBIGUOUS, Side.IPM),
        unmatched_liscio=count(Op.UNMATCHED, Side.LISCIO),
        unmatched_ipm=count(Op.UNMATCHED, Side.IPM),
        created_in_ipm=count(Op.CREATE_IN_IPM),
        ipm_fields=round(sum(s.fields for s in steps if s.pair[0] is kind and s.side is Side.IPM)),
        liscio_fields=round(
            sum(s.fields for s in steps if s.pair[0] is kind and s.side is Side.LISCIO)
        ),
        addresses_unread=sum(p[0] is kind and p not in resolved for p in undecided),
        record_errors=errors + sum(k is kind for k, _message in unreadable),
    )


__all__ = [
    "CARD_TTL",
    "KARBON_RATE",
    "Forecast",
    "KindForecast",
    "Requests",
    "count_forecast",
    "pages",
    "undecided_keys",
]
