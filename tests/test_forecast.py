"""The forecast's counting (pure): records and a plan in, a Forecast out; and its words."""

from __future__ import annotations

import dataclasses

import pytest

from pmtools.analysis.forecast import (
    Forecast,
    Requests,
    count_forecast,
    pages,
    undecided_keys,
)
from pmtools.analysis.forecast_words import duration, forecast_lines, forecast_text
from pmtools.core.plan import SyncPolicy, SyncState
from pmtools.core.planner import plan_sync
from pmtools.core.records import Address, Kind, Record, Side

HOME = Address(line1="1 Main St", city="Boise", state="ID", postal_code="83702", country="US")
AWAY = Address(line1="9 Elm St", city="Reno", state="NV", postal_code="89501", country="US")


def account(rid: str, name: str, **fields) -> Record:
    return Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id=rid, name=name, **fields)


def org(key: str, name: str, **fields) -> Record:
    """An IPM organization as a list row gives it: no address (it is on the card)."""
    return Record(
        side=Side.IPM, kind=Kind.ACCOUNTS, id=key, name=name, details_complete=False, **fields
    )


def with_card(row: Record, address: Address | None) -> Record:
    """The organization once its card is read."""
    return dataclasses.replace(row, address=address, details_complete=True)


def contact(rid: str, first: str, last: str, **fields) -> Record:
    return Record(
        side=Side.LISCIO,
        kind=Kind.CONTACTS,
        id=rid,
        name=f"{first} {last}",
        first_name=first,
        last_name=last,
        **fields,
    )


def person(key: str, name: str, **fields) -> Record:
    return Record(side=Side.IPM, kind=Kind.CONTACTS, id=key, name=name, **fields)


# Liscio: 4 accounts (two share a name), 3 contacts; IPM: 4 organizations, 3 people.
LISCIO_ACCOUNTS = (
    account("a1", "Acme LLC", address=HOME, phone="555-0101"),  # phone differs: IPM write
    account("a2", "Birch Co", address=HOME),  # address only: depends on the card
    account("a3", "Cedar Inc"),  # nothing in Liscio: fills from IPM
    account("a4", "Dune Ltd"),  # no IPM match
    account("a5", "Elm Bros"),  # ambiguous: two IPM organizations share the name
)
IPM_ORGS = (
    org("K1", "Acme LLC", phone="555-0199"),
    org("K2", "Birch Co"),
    org("K3", "Cedar Inc", website="cedar.example"),
    org("K5", "Elm Bros"),
    org("K6", "Elm Bros"),
    org("K7", "Fir Group"),  # only in IPM
)
CARDS = {"K1": HOME, "K2": AWAY, "K3": None}
LISCIO_CONTACTS = (
    contact("c1", "Ann", "Lee", title="CFO"),  # title to IPM
    contact("c2", "Bo", "Ng"),  # email fills Liscio
    contact("c3", "Cy", "Oz", email="=HYPERLINK(1)"),  # invalid email: refused, no request
)
IPM_PEOPLE = (
    person("P1", "Ann Lee", title="Controller"),
    person("P2", "Bo Ng", email="bo@example.com"),
    person("P3", "Cy Oz"),
    person("P4", "Dee Pu"),
)


def records(*, cards: bool = False) -> dict[tuple[Side, Kind], tuple[Record, ...]]:
    orgs = tuple(with_card(o, CARDS.get(o.id)) for o in IPM_ORGS) if cards else IPM_ORGS
    return {
        (Side.LISCIO, Kind.ACCOUNTS): LISCIO_ACCOUNTS,
        (Side.IPM, Kind.ACCOUNTS): orgs,
        (Side.LISCIO, Kind.CONTACTS): LISCIO_CONTACTS,
        (Side.IPM, Kind.CONTACTS): IPM_PEOPLE,
    }


def plan_of(recs):
    return plan_sync(
        liscio={k: v for (s, k), v in recs.items() if s is Side.LISCIO},
        ipm={k: v for (s, k), v in recs.items() if s is Side.IPM},
        state=SyncState(),
        policy=SyncPolicy(force=True),
    )


def listed(recs):
    return {key: len(v) for key, v in recs.items()}


def forecast(*, sampled=None, rate_limit=0, card_ttl=120.0, recs=None) -> Forecast:
    recs = recs or records()
    return count_forecast(
        plan_of(recs),
        recs,
        listed=listed(recs),
        policy=SyncPolicy(),
        sampled=sampled,
        rate_limit=rate_limit,
        card_ttl=card_ttl,
    )


@pytest.mark.parametrize(("rows", "expected"), [(0, 1), (1, 1), (100, 1), (101, 2), (6001, 61)])
def test_a_listing_takes_a_page_a_hundred_rows_and_at_least_one(rows, expected):
    assert pages(rows) == expected


def test_counts_by_kind_what_will_link_what_is_ambiguous_and_what_is_unmatched():
    f = forecast()
    accounts, contacts = f.kinds
    assert (accounts.will_link, accounts.ambiguous_liscio, accounts.ambiguous_ipm) == (3, 1, 2)
    assert (accounts.unmatched_liscio, accounts.unmatched_ipm) == (1, 1)
    assert (contacts.will_link, contacts.unmatched_ipm, contacts.ambiguous_liscio) == (3, 1, 0)
    assert contacts.record_errors == 1  # the formula in an email is refused, not sent
    assert accounts.addresses_unread == 3  # every linked organization's card is unread
    assert f.first_sync and f.preflight is None


def test_every_card_read_makes_the_count_exact_and_equal_to_a_plan_with_the_cards():
    """With each card sampled, the forecast counts what the plan with the cards does."""
    sampled = {o.id: with_card(o, CARDS.get(o.id)) for o in IPM_ORGS}
    f = forecast(sampled=sampled)
    assert f.ipm_low == f.ipm.total == f.ipm_high
    assert f.liscio_low == f.liscio.total == f.liscio_high
    # IPM: K1 (phone; address equal), K2 (address): 2 PUTs; P1 (title): 1 PUT and its card
    # read; P3's only write is the refused email: no request. Cards read to plan: K1-K3.
    assert f.ipm == Requests(check=1, list=2, details=3, card=1, write=3)
    # Liscio: a3 filled (website), c2 filled (email): 2 PATCHes; c1 title goes to IPM.
    assert f.liscio == Requests(check=1, list=2, write=2)
    accounts, contacts = f.kinds
    assert (accounts.ipm_fields, accounts.liscio_fields) == (2, 1)
    assert (contacts.ipm_fields, contacts.liscio_fields) == (1, 1)
    assert accounts.addresses_unread == 0 and f.sampled == 3


def test_without_cards_the_bounds_hold_whatever_the_cards_say():
    f = forecast(sampled={})
    exact = forecast(sampled={o.id: with_card(o, CARDS.get(o.id)) for o in IPM_ORGS})
    assert f.ipm_low <= exact.ipm.total <= f.ipm_high
    assert f.liscio_low <= exact.liscio.total <= f.liscio_high
    assert f.ipm_low < f.ipm_high  # K2's write depends on its card
    # no sample: the estimate is the cautious end
    assert f.ipm.total == f.ipm_high and f.liscio.total == f.liscio_high


def test_a_sample_estimates_the_unread_cards_by_its_shares():
    # K2's card sampled: its address differs, so every unread pair with a Liscio address is
    # estimated as written to IPM; K3's sampled: no IPM address, so no fill estimated.
    sampled = {k: with_card(o, CARDS.get(k)) for o in IPM_ORGS if (k := o.id) in ("K2", "K3")}
    f = forecast(sampled=sampled)
    assert f.sampled == 2 and f.kinds[0].addresses_unread == 1
    assert f.ipm_low <= f.ipm.total <= f.ipm_high


def test_cards_read_to_plan_are_reused_by_writes_only_while_fresh():
    sampled = {o.id: with_card(o, CARDS.get(o.id)) for o in IPM_ORGS}
    unpaced = forecast(sampled=sampled, rate_limit=0)
    paced = forecast(sampled=sampled, rate_limit=120, card_ttl=120.0)
    stale = forecast(sampled=sampled, rate_limit=120, card_ttl=0.0)
    # unpaced or paced within two minutes: the organizations' cards are reused
    assert unpaced.ipm.card == paced.ipm.card == 1  # only the person's
    assert stale.ipm.card == 3  # K1 and K2 read again before their PUTs
    assert stale.ipm.total == unpaced.ipm.total + 2


def test_a_later_sync_counts_creates_and_no_first_sync_fills():
    recs = records(cards=True)
    first = plan_of(recs)
    baseline = frozenset((a.kind, a.id) for a in LISCIO_ACCOUNTS) | frozenset(
        (c.kind, c.id) for c in LISCIO_CONTACTS
    )
    new = account("a9", "Gale LLC", phone="555-0109")
    recs = {**recs, (Side.LISCIO, Kind.ACCOUNTS): (*LISCIO_ACCOUNTS, new)}
    later = plan_sync(
        liscio={k: v for (s, k), v in recs.items() if s is Side.LISCIO},
        ipm={k: v for (s, k), v in recs.items() if s is Side.IPM},
        state=SyncState(baseline=baseline),
        policy=SyncPolicy(),
    )
    assert first.first_sync and not later.first_sync
    f = count_forecast(later, recs, listed=listed(recs), policy=SyncPolicy())
    assert f.kinds[0].created_in_ipm == 1 and f.ipm.create == 1
    assert f.preflight is None and not f.first_sync


def test_the_duplicate_guard_is_told_not_raised():
    recs = {**records(), (Side.LISCIO, Kind.ACCOUNTS): (LISCIO_ACCOUNTS[0],)}
    f = forecast(recs=recs)
    assert f.preflight is not None and "Refusing the first sync" in f.preflight
    assert "duplicate guard will refuse" in " ".join(forecast_lines(f))


def test_undecided_keys_are_the_organizations_whose_card_the_sync_reads():
    assert undecided_keys(plan_of(records())) == ["K1", "K2", "K3"]
    assert undecided_keys(plan_of(records(cards=True))) == []


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (0.4, "under a minute"),
        (45.2, "about 45 min"),
        (135.0, "about 2 h 15 min"),
        (120, "about 2 h"),
    ],
)
def test_durations_read_as_hours_and_minutes(minutes, words):
    assert duration(minutes) == words


def test_the_time_is_the_ipm_requests_at_the_firms_rate_limit():
    f = dataclasses.replace(forecast(), rate_limit=120, ipm=Requests(list=16_000))
    assert round(f.minutes()) == round(16_000 * 1.01 / 120)
    assert "about 2 h 15 min at 120 IPM requests a minute" in " ".join(forecast_lines(f))
    unset = dataclasses.replace(f, rate_limit=0)
    assert "Karbon's 120 requests a minute" in forecast_text(unset)


def test_the_words_say_counts_requests_time_and_what_to_review():
    f = forecast(sampled={o.id: with_card(o, CARDS.get(o.id)) for o in IPM_ORGS})
    text = forecast_text(f)
    assert "will link 6 pairs (3 accounts, 3 contacts)" in text
    assert "Liscio publishes no rate limit" in text
    lines = forecast_lines(f)
    assert lines[0].startswith("Forecast of the first Sync Now")
    assert any(line.startswith("IPM requests: 10 ") for line in lines)
    assert lines[-1].startswith("Review before syncing: 3 ambiguous records")
    assert f.as_dict()["ipm_requests"]["total"] == 10


def test_the_counting_follows_the_connectors_page_size_card_window_and_pacing():
    """The forecast's constants are the connectors' own (a change there must change here)."""
    import inspect

    from pmtools.analysis import forecast as fc
    from pmtools.connectors import karbon, liscio
    from pmtools.connectors.http import RateLimiter

    assert fc.PAGE_SIZE == karbon.PAGE_SIZE == liscio.PAGE_SIZE
    ttl = inspect.signature(karbon.IpmConnector).parameters["card_ttl"].default
    headroom = inspect.signature(RateLimiter).parameters["headroom"].default
    assert fc.CARD_TTL == ttl and fc.HEADROOM == 1 + headroom
