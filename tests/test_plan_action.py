"""Action's hand-written __init__ (faster than the generated one) stays in step with its fields."""

import dataclasses
import inspect

from pmtools.core.plan import Action, LinkHow, Op, make_action
from pmtools.core.records import Kind, Record, Side


def test_init_takes_exactly_the_fields_keyword_only_with_their_defaults():
    params = list(inspect.signature(Action.__init__).parameters.values())[1:]
    fields = dataclasses.fields(Action)
    assert [p.name for p in params] == [f.name for f in fields]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    for p, f in zip(params, fields):
        want = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert p.default == want, f.name


def test_every_argument_lands_in_its_own_field():
    record = Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id="a1", name="Acme")
    given = {
        "op": Op.WRITE,
        "kind": Kind.ACCOUNTS,
        "liscio_id": "a1",
        "ipm_key": "K1",
        "side": Side.IPM,
        "field": "phone",
        "before": "1",
        "after": "2",
        "rule": "r",
        "how": None,
        "record": record,
        "external_id": "x",
        "candidates": ("c",),
        "reason": "why",
    }
    action = Action(**given)
    assert {f.name: getattr(action, f.name) for f in dataclasses.fields(Action)} == given
    assert dataclasses.replace(action, rule="s").rule == "s"


def test_make_action_is_the_keyword_constructor():
    assert make_action(
        Op.WRITE, Kind.ACCOUNTS, "a1", "K1", Side.IPM, "phone", "1", "2", "r", None
    ) == Action(
        op=Op.WRITE,
        kind=Kind.ACCOUNTS,
        liscio_id="a1",
        ipm_key="K1",
        side=Side.IPM,
        field="phone",
        before="1",
        after="2",
        rule="r",
    )
    made = make_action(
        Op.LINK, Kind.CONTACTS, "c1", "P1", None, None, None, None, "exact-name", LinkHow.AUTOMATIC
    )
    assert repr(made) == repr(
        Action(
            op=Op.LINK,
            kind=Kind.CONTACTS,
            liscio_id="c1",
            ipm_key="P1",
            how=LinkHow.AUTOMATIC,
            rule="exact-name",
        )
    )
