"""The exact-name keys: a table of cases, unicode and white space included."""

import pytest

from pmtools.core.names import (
    compatible,
    display_order,
    fold_for_search,
    normalize_name,
    person_keys,
)
from pmtools.core.records import Kind, Record, Side


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Acme Corp", "acme corp", True),
        ("  Acme   Corp ", "Acme Corp", True),
        ("Acme\tCorp\n", "ACME CORP", True),
        ("Acme\u00a0Corp", "Acme Corp", True),  # no-break space is white space
        ("Ａｃｍｅ Corp", "Acme Corp", True),  # NFKC folds full-width letters
        ("Straße GmbH", "STRASSE GMBH", True),  # casefold, not lower
        ("Café Olé", "CAFÉ OLÉ", True),
        ("Cafe\u0301 Ole\u0301", "Café Olé", True),  # combining accent composes under NFKC
        ("Café", "Cafe", False),  # accents are not case
        ("Acme Corp.", "Acme Corp", False),  # punctuation is not exact
        ("Acme LLC", "Acme L.L.C.", False),
        ("Acme Inc", "Acme", False),
        ("", "   ", True),
        ("ǅemal", "ǆemal", True),  # titlecase digraph
        ("\u200b", "", True),  # only invisible characters: no name
        ("\u200b\u202e\u2060\ufeff", "", True),
        ("\x00\x1b", "", True),
        ("\u3164\u2800", "", True),  # printable, yet blank
        ("A\u200bcme", "Acme", False),  # a hidden character is not exact
    ],
)
def test_normalize_name(a, b, same):
    assert (normalize_name(a) == normalize_name(b)) is same


def liscio(first, last, middle=None):
    return Record(
        side=Side.LISCIO,
        kind=Kind.CONTACTS,
        id="l",
        name="",
        first_name=first,
        middle_name=middle,
        last_name=last,
    )


def ipm(full, first=None, last=None, middle=None):
    return Record(
        side=Side.IPM,
        kind=Kind.CONTACTS,
        id="k",
        name=full,
        first_name=first,
        middle_name=middle,
        last_name=last,
    )


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        (liscio("Ann", "Lee"), ipm("Ann Lee"), "full"),
        (liscio("Ann", "Lee"), ipm("Lee, Ann"), "full"),
        (liscio("Ann", "Lee"), ipm("  LEE ,  ann "), "full"),
        (liscio("Ann", "Lee", "Marie"), ipm("Ann Lee"), "loose"),  # middle on Liscio only
        (liscio("Ann", "Lee"), ipm("Ann Marie Lee"), "loose"),  # middle on IPM only
        (liscio("Ann", "Lee"), ipm("Lee, Ann Marie"), "loose"),
        (liscio("Juan", "De La Cruz"), ipm("De La Cruz, Juan"), "full"),
        (liscio("Juan", "De La Cruz"), ipm("Juan De La Cruz"), "full"),
        (liscio("José", "Núñez"), ipm("JOSÉ NÚÑEZ"), "full"),
        (liscio("Ann", "Lee"), ipm("x", first="Ann", last="Lee", middle="Q"), "loose"),
        (liscio("Ann", "Lee", "Jo"), ipm("Ann Marie Lee"), None),  # two different middles
        (liscio("Ann", "Lee"), ipm("Anne Lee"), None),
        (liscio("Ann", "Lee"), ipm("Lee Ann"), None),  # order matters without comma
    ],
)
def test_person_keys(left, right, level):
    lk, rk = person_keys(left), person_keys(right)
    if level == "full":
        assert lk.full == rk.full
    elif level == "loose":
        assert lk.full != rk.full and lk.loose == rk.loose and compatible(lk.full, rk.full)
    else:
        assert lk.full != rk.full
        assert lk.loose != rk.loose or not compatible(lk.full, rk.full)


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Lee, Ann", "Ann Lee"),
        ("Smith, Jr.", "Smith, Jr."),
        ("Smith, CPA", "Smith, CPA"),
        ("A, B, C", "A, B, C"),
        (", Ann", ", Ann"),
        ("Lee,", "Lee,"),
    ],
)
def test_display_order(name, shown):
    assert display_order(name) == shown


@pytest.mark.parametrize(
    ("accented", "plain", "exact_same"),
    [
        ("Björn  Ångström", "bjorn angstrom", False),
        ("Núñez", "nunez", False),
        ("Zoë", "zoe", False),
        ("Café", "cafe", False),
        ("Søren Ærø", "soren aero", False),
        ("Łukasz Đurić", "lukasz duric", False),
        ("Cafe\u0301", "cafe", False),  # combining accent
        ("Straße", "strasse", True),  # casefold: the same for both
        ("Ａｃｍｅ\u00a0CO", "acme co", True),  # full width, no-break space
    ],
)
def test_fold_for_search_folds_while_normalize_name_does_not(accented, plain, exact_same):
    assert fold_for_search(accented) == plain == fold_for_search(plain)
    # Exact matching keeps accents: "Café" is not "Cafe".
    assert (normalize_name(accented) == normalize_name(plain)) is exact_same
