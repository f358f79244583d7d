"""The forecast benchmark's pieces: its goals on hand-built rows, and one unpaced run of the
demo firm over real HTTP (no timing asserted)."""

from bench.forecast import ALL, Row, one, to_markdown


def _row(**changes) -> Row:
    base = dict(
        scale=1,
        rate=0,
        sample="40 cards",
        forecast_ipm=1000,
        low=950,
        high=1100,
        sync_ipm=1020,
        forecast_liscio=300,
        sync_liscio=301,
        forecast_minutes=0.0,
        sync_minutes=0.1,
        forecast_seconds=1.0,
        forecast_requests=50,
        by_purpose="",
    )
    return Row(**(base | changes))


def test_goals_of_a_sampled_and_an_exact_forecast():
    assert _row().met  # within bounds, 2% off
    assert not _row(sync_ipm=1200).met  # outside the bounds
    assert not _row(sample="every card").met  # every card: must be exact
    assert _row(sample="every card", sync_ipm=1000, sync_liscio=300).met
    assert not _row(rate=120, forecast_minutes=5.0, sync_minutes=7.0).met  # time 29% off
    assert "MISSED" in to_markdown([_row(sync_ipm=1200)], "now")


def test_an_unpaced_forecast_with_every_card_equals_the_first_sync():
    row = one(1, 0, ALL)
    assert row.met and row.forecast_ipm == row.sync_ipm > 0
