"""The seed's field rules and the comparison forms: tables of cases, and properties."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmtools.core.records import Address, Side, has_value
from pmtools.core.rulebook import Rule
from pmtools.core.rules import (
    FieldDecision,
    decide_field,
    normalize_value,
    values_equal,
)

FIRST_FILL_IPM, FIRST_FILL_LISCIO = Rule.FIRST_FILL_IPM, Rule.FIRST_FILL_LISCIO
FIRST_LISCIO_WINS, LATER_LISCIO_TO_IPM = Rule.FIRST_LISCIO_WINS, Rule.LATER_LISCIO_TO_IPM

ADDR = Address(
    line1="1 Main St",
    line2="Suite 4",
    city="Springfield",
    state="IL",
    postal_code="62701",
    country="US",
)


@pytest.mark.parametrize(
    ("field", "a", "b", "equal"),
    [
        ("email", "Ann@Example.com", "  ann@example.COM ", True),
        ("email", "ann@example.com", "anne@example.com", False),
        ("email", "STRASSE@x.de", "straße@x.de", True),  # casefold
        ("phone", "+1 (555) 010-2000", "555-010-2000", True),  # NANP country code
        ("phone", "1-555-010-2000", "(555) 010 2000", True),
        ("phone", "555.010.2000", "5550102000", True),
        ("phone", "555-010-2000", "555-010-2001", False),
        ("phone", "+44 20 7946 0958", "+44 (0)20 7946 0958", False),  # digits differ
        ("phone", "+44 20 7946 0958", "+442079460958", True),
        ("phone", "+44 20 7946 0958", "44 20 7946 0958", False),  # "+" kept off NANP
        ("phone", "555-010-2000 x12", "555 010 2000 ext. 12", True),
        ("phone", "555-010-2000 x12", "555-010-2000", False),
        ("phone", "n/a", "N/A", True),  # no digits: text
        ("phone", "n/a", "none", False),
        ("phone", "５５５-010-2000", "555-010-2000", True),  # full-width digits
        ("website", "https://www.Acme.com/", "acme.com", True),
        ("website", "HTTP://ACME.COM", "acme.com", True),
        ("website", "acme.com/About/", "https://acme.com/About", True),
        ("website", "acme.com/About", "acme.com/about", False),  # path keeps its case
        ("website", "acme.com", "acme.org", False),
        ("website", "www.acme.com", "wwwacme.com", False),
        ("title", "CEO", "  CEO ", True),
        ("title", "Chief  Executive\tOfficer", "Chief Executive Officer", True),
        ("title", "CEO", "ceo", False),  # titles are case-sensitive
        (
            "address",
            ADDR,
            Address(
                line1="1 MAIN ST",
                line2="suite 4",
                city="springfield",
                state="il",
                postal_code="62701",
                country="us",
            ),
            True,
        ),
        (
            "address",
            ADDR,
            Address(
                line1="1 Main St Suite 4",
                city=" Springfield ",
                state="IL",
                postal_code="62701",
                country="US",
            ),
            True,
        ),
        (
            "address",
            ADDR,
            Address(
                line1="1 Main St, Suite 4",
                city="Springfield",
                state="IL",
                postal_code="62701",
                country="US",
            ),
            True,
        ),
        (
            "address",
            ADDR,
            Address(
                line1="2 Main St",
                line2="Suite 4",
                city="Springfield",
                state="IL",
                postal_code="62701",
                country="US",
            ),
            False,
        ),
        (
            "address",
            ADDR,
            Address(
                line1="1 Main St",
                line2="Suite 4",
                city="Springfield",
                state="IL",
                postal_code="62701",
                country="United States",
            ),
            True,
        ),
        (
            "address",
            ADDR,
            Address(
                line1="1 Main St",
                line2="Suite 4",
                city="Springfield",
                state="IL",
                postal_code="62701",
                country="Canada",
            ),
            False,
        ),
        ("address", Address(), None, True),
        ("address", Address(line1="  "), "", True),
        ("email", None, "   ", True),
        ("email", None, "", True),
    ],
)
def test_values_equal(field, a, b, equal):
    assert values_equal(field, a, b) is equal
    assert values_equal(field, b, a) is equal


@pytest.mark.parametrize("field", ["address", "phone", "website", "title", "email"])
@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        " ",
        "\t\n",
        "x",
        "--",
        "http://",
        "/",
        "+",
        Address(),
        Address(city=" "),
        Address(city="X"),
    ],
)
def test_empty_form_exactly_when_no_value(field, value):
    assert (normalize_value(field, value) == "") is (not has_value(value))


def test_unknown_field_is_refused():
    with pytest.raises(KeyError):
        normalize_value("name", "Acme")


L, I = Side.LISCIO, Side.IPM


@pytest.mark.parametrize(
    ("liscio", "ipm", "first", "expected"),
    [
        # First sync: one side only fills the other, in either direction.
        ("a@x.com", None, True, (I, None, "a@x.com", FIRST_FILL_IPM)),
        ("a@x.com", "  ", True, (I, "  ", "a@x.com", FIRST_FILL_IPM)),
        (None, "a@x.com", True, (L, None, "a@x.com", FIRST_FILL_LISCIO)),
        (" ", "a@x.com", True, (L, " ", "a@x.com", FIRST_FILL_LISCIO)),
        # First sync: both set and different: Liscio wins.
        ("a@x.com", "b@x.com", True, (I, "b@x.com", "a@x.com", FIRST_LISCIO_WINS)),
        # Equal (after normalisation) or both empty: nothing.
        ("a@x.com", "a@x.com", True, None),
        ("A@X.com ", "a@x.com", True, None),
        (None, "", True, None),
        (" ", None, True, None),
        # Later syncs: Liscio set and IPM empty or different -> IPM; never to Liscio.
        ("a@x.com", None, False, (I, None, "a@x.com", LATER_LISCIO_TO_IPM)),
        ("a@x.com", "b@x.com", False, (I, "b@x.com", "a@x.com", LATER_LISCIO_TO_IPM)),
        (None, "b@x.com", False, None),
        ("  ", "b@x.com", False, None),
        ("A@x.com", "a@X.com", False, None),
        (None, None, False, None),
    ],
)
def test_decide_field_table(liscio, ipm, first, expected):
    decision = decide_field("email", liscio, ipm, first_sync=first)
    if expected is None:
        assert decision is None
    else:
        side, before, after, rule = expected
        assert decision == FieldDecision(
            field="email", side=side, before=before, after=after, rule=rule
        )


def test_decide_field_address_keeps_the_objects():
    other = Address(line1="9 Elm St")
    decision = decide_field("address", ADDR, other, first_sync=False)
    assert decision.after is ADDR and decision.before is other and decision.side is Side.IPM


# --- properties: for any field states on both sides, exactly the seed's outcome -------------

BASES = {
    "email": ["ann@example.com", "bob@example.org"],
    "phone": ["555-010-2000", "+44 20 7946 0958"],
    "website": ["acme.com", "example.org/About"],
    "title": ["CEO", "Managing Partner"],
    "address": [Address(line1="1 Main St", city="Springfield"), Address(line1="9 Elm St")],
}


def _variants(field, value):
    """The value, and forms of it that are equal after normalisation."""
    if isinstance(value, Address):
        return [value, Address(line1=f"  {value.line1.upper()} ", city=value.city)]
    out = [value, f"  {value}  "]
    if field == "email":
        out.append(value.upper())
    elif field == "phone":
        out.append(value.replace("-", " ").replace(" ", "."))
    elif field == "website":
        out += [f"https://www.{value}/", f"HTTP://{value}"]
    elif field == "title":
        out.append(value.replace(" ", " \t "))
    return out


def field_values(field):
    """Empty, white space, a value, its equal-after-normalisation forms, other values."""
    empties = [None, "", "   ", "\t"] + (
        [Address(), Address(city=" ")] if field == "address" else []
    )
    values = [v for base in BASES[field] for v in _variants(field, base)]
    return st.sampled_from(empties + values)


def seed_outcome(field, liscio, ipm, first_sync):
    """The seed's text, literally: (side written, value written) or None."""
    liscio_has, ipm_has = has_value(liscio), has_value(ipm)
    same = values_equal(field, liscio, ipm)
    if first_sync:
        if liscio_has and not ipm_has:
            return (Side.IPM, liscio)
        if ipm_has and not liscio_has:
            return (Side.LISCIO, ipm)
        if liscio_has and ipm_has and not same:
            return (Side.IPM, liscio)
        return None
    if liscio_has and (not ipm_has or not same):
        return (Side.IPM, liscio)
    return None


@settings(deadline=None)
@given(data=st.data(), field=st.sampled_from(sorted(BASES)), first_sync=st.booleans())
def test_decide_field_is_the_seed(data, field, first_sync):
    liscio = data.draw(field_values(field), label="liscio")
    ipm = data.draw(field_values(field), label="ipm")
    decision = decide_field(field, liscio, ipm, first_sync=first_sync)
    expected = seed_outcome(field, liscio, ipm, first_sync)
    if expected is None:
        assert decision is None
        return
    assert (decision.side, decision.after) == expected
    assert decision.before is (ipm if decision.side is Side.IPM else liscio)
    assert decision.rule.startswith("first-sync:" if first_sync else "later-sync:")
    if not first_sync:
        assert decision.side is Side.IPM  # nothing is written to Liscio after the first sync
    # Applying the decision leaves nothing to do at the next (later) sync.
    new_liscio = decision.after if decision.side is Side.LISCIO else liscio
    new_ipm = decision.after if decision.side is Side.IPM else ipm
    assert decide_field(field, new_liscio, new_ipm, first_sync=False) is None


@settings(deadline=None)
@given(field=st.sampled_from(sorted(BASES)), a=st.text(max_size=12), b=st.text(max_size=12))
def test_values_equal_is_an_equivalence_on_text(field, a, b):
    assert values_equal(field, a, a)
    assert values_equal(field, a, b) == values_equal(field, b, a)
    assert (normalize_value(field, a) == "") is (not has_value(a))


# -- email validation (issue 8 §5) -----------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "ann@example.com",
        " Ann@Example.COM ",
        "o'brien@x.example",
        "zoë@exämple.com",
        "ann+tax@x.com",
        "a.b-c_d@sub.domain.example",
    ],
)
def test_valid_or_empty_emails_have_no_problem(value):
    from pmtools.core.rules import email_problem

    assert email_problem(value) is None


@pytest.mark.parametrize(
    "value, words",
    [
        ('=HYPERLINK("http://evil.example","x")', "spreadsheet formula"),
        ("=1+2@x.com", "spreadsheet formula"),
        ("+ann@x.com", "spreadsheet formula"),
        ("-ann@x.com", "spreadsheet formula"),
        ("@ann.com", "spreadsheet formula"),
        ("not an email", "@-sign"),
        ("ann@@x.com", "invalid characters"),
        ("ann@x", "period"),
        ("ann lee@x.com", "invalid characters"),
        ("ann\u202e@x.com", "unsafe characters"),
        ("ann\u200b@x.com", "unsafe characters"),
        ("ann@x.com\x00", "invalid characters"),
        ("ann@mail.test", "special-use"),
    ],
)
def test_invalid_emails_say_why(value, words):
    from pmtools.core.rules import email_problem

    problem = email_problem(value)
    assert problem is not None and words in problem, problem
