"""The forecast against the simulator: its request counts against a real first Sync Now's.

Real HTTP on loopback to the simulator's demo firm (300 organizations, 900 people), a real
SQLite state file, the real connectors. The simulator counts every request it answers, so the
forecast's own reading and the sync's requests are both counted by the other end.

The IPM connector's card reuse window is set on both sides (the connector and the forecast)
so that no outcome depends on the machine's speed: one hour (every card read for planning is
reused by its write) or zero (none is).
"""

from __future__ import annotations

import pytest

from pmtools.config import Settings
from pmtools.connectors.karbon import IpmConnector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.core.plan import SyncPolicy
from pmtools.core.records import Kind
from pmtools.engine.forecast import forecast_sync
from pmtools.engine.sync import run_sync
from pmtools.engine.tenant import check_tenant
from pmtools.sandbox.server import start_sandbox
from pmtools.store import Store

ALL = 1_000_000  # a sample holding every card: the forecast is then exact
TOLERANCE = 0.05  # a sampled forecast's estimate against the real count


@pytest.fixture
def world(tmp_path):
    """A demo simulator (no rate limit) and a new state file."""
    with (
        start_sandbox(scale=1, rate_limit=0) as server,
        Store.open(tmp_path / "state.sqlite") as store,
    ):
        yield server, store, Settings(ipm_rate_limit=0).with_sandbox(server.url)


def connectors(settings: Settings, *, card_ttl: float) -> tuple[LiscioConnector, IpmConnector]:
    """Fresh connectors, as each ``pmtools sync`` has (nothing kept from an earlier one)."""
    assert settings.liscio_url and settings.liscio_token and settings.ipm_url
    assert settings.ipm_token and settings.ipm_access_key
    liscio = LiscioConnector(settings.liscio_url, settings.liscio_token)
    ipm = IpmConnector(
        settings.ipm_url,
        settings.ipm_token,
        settings.ipm_access_key,
        rate_limit=0,
        card_ttl=card_ttl,
    )
    return liscio, ipm


def counted(server, before: dict[str, int]) -> tuple[int, int]:
    """(IPM, Liscio) requests the simulator answered since ``before``."""
    now = server.stats.snapshot()
    return (
        now.get("ipm", 0) - before.get("ipm", 0),
        now.get("liscio", 0) - before.get("liscio", 0),
    )


def forecast_then_sync(server, store, settings, *, sample: int, card_ttl: float):
    """Forecast, then run the first Sync Now; the requests of each as the simulator saw them."""
    liscio, ipm = connectors(settings, card_ttl=card_ttl)
    before, data = server.stats.snapshot(), server.state.canonical()
    check_tenant(store, liscio=liscio, ipm=ipm)  # what every command does first
    forecast = forecast_sync(
        liscio=liscio,
        ipm=ipm,
        store=store,
        policy=SyncPolicy(),
        rate_limit=120,
        sample=sample,
        card_ttl=card_ttl,
    )
    read = counted(server, before)
    assert server.state.canonical() == data  # nothing written to either service
    assert store.runs() == [] and store.baseline() is None  # nor a run to the state file
    liscio.close(), ipm.close()

    liscio, ipm = connectors(settings, card_ttl=card_ttl)
    before = server.stats.snapshot()
    check_tenant(store, liscio=liscio, ipm=ipm)
    result = run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
    synced = counted(server, before)
    by_kind = dict(ipm.stats().by_kind)
    liscio.close(), ipm.close()
    return forecast, read, synced, result, by_kind


def test_with_every_card_read_the_forecast_is_exact(world):
    """Every number of the forecast equals the real first sync's."""
    server, store, settings = world
    forecast, read, synced, result, by_kind = forecast_then_sync(
        server, store, settings, sample=ALL, card_ttl=3600
    )
    assert read == (forecast.read_ipm, forecast.read_liscio)
    assert synced == (forecast.ipm.total, forecast.liscio.total)
    assert forecast.ipm_low == forecast.ipm.total == forecast.ipm_high
    expected = {k: v for k, v in forecast.ipm.as_dict().items() if v and k != "total"}
    assert by_kind == expected
    counts = result.counts
    assert sum(k.will_link for k in forecast.kinds) == counts["linked"]
    assert sum(k.ipm_fields for k in forecast.kinds) == counts["ipm_fields_written"]
    assert sum(k.liscio_fields for k in forecast.kinds) == counts["liscio_fields_filled"]
    assert sum(k.unmatched_ipm for k in forecast.kinds) == counts["unmatched_ipm"]
    assert sum(k.unmatched_liscio for k in forecast.kinds) == counts["unmatched_liscio"]
    ambiguous = sum(k.ambiguous_liscio + k.ambiguous_ipm for k in forecast.kinds)
    assert ambiguous == counts["ambiguous"]
    assert forecast.kinds[0].kind is Kind.ACCOUNTS and forecast.preflight is None


def test_a_sampled_forecast_bounds_the_real_count_and_estimates_it_closely(world):
    """With a sample of 40 cards, and no card reused (the rate limit's case on a large firm),
    the real requests lie within the bounds and within 5% of the estimate."""
    server, store, settings = world
    forecast, read, synced, _result, by_kind = forecast_then_sync(
        server, store, settings, sample=40, card_ttl=0
    )
    assert read == (forecast.read_ipm, forecast.read_liscio)
    assert forecast.sampled == 40 and forecast.read_ipm < synced[0] / 10
    ipm, liscio = synced
    assert forecast.ipm_low <= ipm <= forecast.ipm_high
    assert forecast.liscio_low <= liscio <= forecast.liscio_high
    assert abs(forecast.ipm.total - ipm) <= TOLERANCE * ipm
    assert abs(forecast.liscio.total - liscio) <= TOLERANCE * liscio
    # the parts that do not depend on the cards are exact
    assert by_kind["list"] == forecast.ipm.list and by_kind["details"] == forecast.ipm.details
    assert by_kind["card"] == by_kind["write"]  # no card reused: one read per PUT
