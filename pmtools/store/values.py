"""The store's shared helpers: how field values and policies are kept as JSON.

Used by both halves of the store (:mod:`pmtools.store.core` and :mod:`pmtools.store.trail`),
so neither imports the other's helpers.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from pmtools.core.plan import SyncPolicy
from pmtools.core.records import Address, FieldValue


def encode_value(value: FieldValue) -> str | None:
    """A field value as stored JSON (an Address as a dict); None stays SQL NULL."""
    if value is None:
        return None
    if isinstance(value, Address):
        return json.dumps(value.to_dict(), sort_keys=True)
    return json.dumps(value)


def decode_value(text: str | None) -> FieldValue:
    """The inverse of :func:`encode_value`."""
    if text is None:
        return None
    data = json.loads(text)
    if isinstance(data, dict):
        return Address.from_dict(data)
    return str(data) if data is not None else None


def policy_json(policy: SyncPolicy | None) -> str:
    """A policy as JSON, stored with each run so that the run can be explained later."""
    if policy is None:
        return "{}"
    data = asdict(policy)
    data["kinds"] = [str(k) for k in policy.kinds]
    return json.dumps(data, sort_keys=True)
