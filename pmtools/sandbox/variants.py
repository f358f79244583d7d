"""Switches that make the simulated Karbon behave the "other" way where Karbon's documentation
is silent, so that tests can prove pmtools stays correct whichever way real Karbon behaves.

``--karbon-variant`` takes names separated by commas:

- ``card-edit-keeps-time``: a ``PUT /v3/BusinessCards/{key}`` does not move its owner's
  ``LastModifiedDateTime`` (by default it does).
- ``next-link-on-last-page``: the last page of a list carries an ``@odata.nextLink`` too, to a
  page with no rows (by default the last page has no link).
- ``bare-404``: a record or card that is not found is answered 404 with an empty
  ``text/plain`` body, as the examples in Karbon's own Postman collection show (by default the
  body is ``{"error": {"code": "4004", "message": …}}``).
- ``unknown-key-refused``: a ``PUT /v3/BusinessCards/{key}`` naming an ``AddressKey`` or
  ``PhoneNumberKey`` the card does not have is answered 400/4003 (by default that entry is
  taken as a new one, with a new key).
"""

from __future__ import annotations

from dataclasses import dataclass

VARIANT_NAMES = (
    "card-edit-keeps-time",
    "next-link-on-last-page",
    "bare-404",
    "unknown-key-refused",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class KarbonVariants:
    """Which undocumented Karbon behaviours the simulator plays the other way."""

    card_edit_keeps_time: bool = False
    next_link_on_last_page: bool = False
    bare_404: bool = False
    unknown_key_refused: bool = False

    @classmethod
    def parse(cls, text: str | None) -> KarbonVariants:
        """Parse ``NAME,NAME``; raises ValueError naming an unknown variant."""
        names = {n.strip() for n in (text or "").split(",") if n.strip()}
        unknown = sorted(names - set(VARIANT_NAMES))
        if unknown:
            raise ValueError(
                f"unknown Karbon variant {unknown[0]!r}: expected one of {', '.join(VARIANT_NAMES)}"
            )
        return cls(**{n.replace("-", "_"): True for n in names})

    def __str__(self) -> str:
        return ",".join(n for n in VARIANT_NAMES if getattr(self, n.replace("-", "_")))
