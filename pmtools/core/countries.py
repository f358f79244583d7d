"""Countries both ways: Liscio's free text <-> Karbon's ISO 3166-1 alpha-2 codes. Pure.

Karbon stores a card address's ``CountryCode`` as an ISO 3166-1 alpha-2 code; Liscio holds
whatever was typed ("Germany", "DE", "Deutschland", "UK", "U.S.A."). :func:`country_code`
reads any of these (ISO 3166's data from pycountry: codes, names, official and common names;
the names in a few more languages; a small table of aliases ISO does not list);
:func:`country_name` gives the name people read (reports, and what Liscio is sent).
A value that names no country raises :class:`UnknownCountry`: it is never sent as it is.
"""

from __future__ import annotations

import functools
import gettext
import unicodedata

import pycountry

__all__ = ["UnknownCountry", "country_code", "country_key", "country_name"]

# Common names ISO 3166 (and so pycountry) does not list: the names people type.
_ALIASES = {
    "u s a": "US",
    "u s": "US",
    "the united states": "US",
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "holland": "NL",
    "the netherlands": "NL",
    "russia": "RU",
    "korea": "KR",
    "turkey": "TR",
    "ivory coast": "CI",
    "macedonia": "MK",
    "swaziland": "SZ",
    "burma": "MM",
    "cape verde": "CV",
    "uae": "AE",
    "republic of ireland": "IE",
    "eire": "IE",
    "vatican": "VA",
    "vatican city": "VA",
    "palestine": "PS",
}
# Display names where ISO has no common name and its name reads oddly ("Russian Federation");
# otherwise ISO's common name ("South Korea", "Taiwan"), else its name.
_NAMES = {"RU": "Russia"}
# Other languages whose country names are read too (pycountry ships the translations):
# "Deutschland", "Royaume-Uni", "Kanada". A name that means two countries is left out.
_LANGUAGES = ("de", "fr", "es", "it", "nl", "pt")


class UnknownCountry(ValueError):
    """A country value that names no ISO 3166 country."""


def country_code(country: str | None) -> str | None:
    """The ISO 3166-1 alpha-2 code ``country`` names; None when blank.

    Raises UnknownCountry when the text names no country.
    """
    if country is None or not country.strip():
        return None
    code = _index().get(_key(country))
    if code is None:
        raise UnknownCountry(
            f"{country.strip()!r} is not a country pmtools knows "
            "(a name, or an ISO 3166 code such as DE or GBR)"
        )
    return code


def country_key(country: str | None) -> str | None:
    """The comparison form of a country: its alpha-2 code, or the trimmed text if unknown."""
    if country is None or not country.strip():
        return None
    return _index().get(_key(country), country.strip())


def country_name(country: str | None) -> str | None:
    """The country's name as people read it ("Germany" for "DE"); unknown text as it is."""
    if country is None or not country.strip():
        return None
    code = _index().get(_key(country))
    if code is None:
        return country.strip()
    return _NAMES.get(code) or _iso_names().get(code, code)


def _key(text: str) -> str:
    # "U.S.A." and "u s a" are one key; case, accents' composed forms and spacing do not count
    text = unicodedata.normalize("NFKC", text).casefold().replace(".", " ")
    return " ".join(text.split())


@functools.cache
def _iso_names() -> dict[str, str]:
    return {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


@functools.cache
def _index() -> dict[str, str]:
    """Every known spelling's key -> alpha-2, built once (a dict, not pycountry's lookup,
    which scans every country on each call: the planner compares every address of a firm).

    English names win over translations, and the aliases over both.
    """
    translated: dict[str, set[str]] = {}
    for language in _LANGUAGES:
        try:
            translate = gettext.translation(
                "iso3166-1", pycountry.LOCALES_DIR, languages=[language]
            ).gettext
        except OSError:  # a pycountry build without that language's names
            continue
        for c in pycountry.countries:
            for attr in ("name", "official_name", "common_name"):
                value = getattr(c, attr, None)
                if value:
                    translated.setdefault(_key(translate(value)), set()).add(c.alpha_2)
    index = {k: codes.pop() for k, codes in translated.items() if len(codes) == 1}
    for c in pycountry.countries:
        for attr in ("alpha_2", "alpha_3", "name", "official_name", "common_name"):
            value = getattr(c, attr, None)
            if value:
                index[_key(value)] = c.alpha_2
    index.update(_ALIASES)
    return index
