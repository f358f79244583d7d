"""The state store: a firm's links, decisions, baseline, runs and audit trail.

In a SQLite file (``Store.open(path)``) or a PostgreSQL schema (``Store.open_postgres(url,
schema)``; see :mod:`pmtools.store.backend` for which). Opening is explicit; importing this
package touches no file and no server.
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
