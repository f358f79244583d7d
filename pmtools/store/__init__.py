"""The state store: a SQLite file holding links, decisions, baseline, runs and the audit trail.

See :class:`Store`. Opening a store is explicit (``Store.open(path)``); importing this package
touches no file.
"""

from pmtools.core.timestamps import now_iso
from pmtools.store.core import Store
from pmtools.store.schema import LATEST as SCHEMA_VERSION
from pmtools.store.trail import RUN_OUTCOMES, ChangeIntent
from pmtools.store.values import decode_value, encode_value, policy_json

__all__ = [
    "RUN_OUTCOMES",
    "SCHEMA_VERSION",
    "ChangeIntent",
    "Store",
    "decode_value",
    "encode_value",
    "now_iso",
    "policy_json",
]
