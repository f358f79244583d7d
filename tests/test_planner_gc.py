"""plan_sync pauses the cyclic garbage collector while it builds a plan, and only then."""

import gc

from bench.planning import synthetic_firm
from pmtools.core.plan import SyncPolicy, SyncState
from pmtools.core.planner import plan_sync


def _plan():
    liscio, ipm = synthetic_firm(200)
    return plan_sync(liscio=liscio, ipm=ipm, state=SyncState(), policy=SyncPolicy(force=True))


def test_the_collectors_state_is_restored():
    assert gc.isenabled()
    _plan()
    assert gc.isenabled()
    gc.disable()
    try:
        _plan()
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()


def test_planning_leaves_no_cyclic_garbage_for_the_paused_collector():
    gc.collect()
    plan = _plan()
    assert plan.counts()["linked"] > 0
    assert gc.collect() == 0  # reference counting freed everything planning let go of
