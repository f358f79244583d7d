"""Country names to ISO 3166-1 alpha-2 codes: Karbon stores codes, Liscio may hold names."""

from __future__ import annotations

_COUNTRIES = {
    "united states": "US", "united states of america": "US", "usa": "US", "u.s.a.": "US",
    "u.s.": "US", "us": "US", "canada": "CA", "united kingdom": "GB", "uk": "GB",
    "great britain": "GB", "australia": "AU", "new zealand": "NZ", "ireland": "IE",
    "mexico": "MX", "india": "IN",
}


def country_code(country: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code for ``country`` where known; the text as given otherwise."""
    if not country or not country.strip():
        return None
    text = country.strip()
    if len(text) == 2 and text.isalpha():
        return text.upper()
    return _COUNTRIES.get(text.casefold(), text)
