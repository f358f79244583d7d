"""Every rule name pmtools records: why each link, write, create, skip and orphan happened.

One enum, so a rule is named once. Its values are stable text: the state store's audit trail,
the reports and ``pmtools explain`` keep and show them. Where each rule is applied:

- matching levels (:mod:`pmtools.core.matching`): ``EXACT_NAME``, ``MIDDLE_NAME_IGNORED``;
- field rules (:mod:`pmtools.core.rules`): ``FIRST_FILL_*``, ``FIRST_LISCIO_WINS``,
  ``LATER_LISCIO_TO_IPM``;
- planning (:mod:`pmtools.core.planner`): ``FIRST_SYNC_DONE``, ``NEW_LISCIO_RECORD``, the
  ``SKIP_*`` and ``ORPHAN_*`` rules (``SKIP_UNREADABLE_IPM``: :mod:`pmtools.engine.unreadable`);
- applying and the manual operations (:mod:`pmtools.engine.apply`,
  :mod:`pmtools.engine.operations`): ``LINK_*``, ``CREATE_IN_*``, ``MANUAL_LINK``, ``DELINK``,
  ``NOT_A_MATCH``, ``ORPHAN``, ``RESUMED``;
- undo (:mod:`pmtools.engine.undo`) records ``undo:run-N``, one name per undone run
  (:func:`undo_rule`).
"""

from __future__ import annotations

import enum


class Rule(str, enum.Enum):
    """A rule name; compares equal to its text."""

    # matching levels
    EXACT_NAME = "exact-name"
    MIDDLE_NAME_IGNORED = "exact-name:middle-name-ignored"
    # field rules of the seed
    FIRST_FILL_IPM = "first-sync:fill-ipm"
    FIRST_FILL_LISCIO = "first-sync:fill-liscio"
    FIRST_LISCIO_WINS = "first-sync:liscio-wins"
    LATER_LISCIO_TO_IPM = "later-sync:liscio-to-ipm"
    # planning
    FIRST_SYNC_DONE = "first-sync:done"
    NEW_LISCIO_RECORD = "later-sync:new-liscio-record"
    SKIP_DETAILS_NOT_LOADED = "skip:ipm-details-not-loaded"
    SKIP_NO_NAME = "skip:no-name-for-create"
    SKIP_ORPHANED_BACK = "skip:orphaned-records-back"
    SKIP_UNKNOWN_COUNTRY = "skip:unknown-country"
    SKIP_UNREADABLE_IPM = "skip:an-ipm-record-is-unreadable"
    ORPHAN_LISCIO_MISSING = "orphan:liscio-missing"
    ORPHAN_LISCIO_ARCHIVED = "orphan:liscio-archived"
    ORPHAN_IPM_MISSING = "orphan:ipm-missing"
    ORPHAN_IPM_ARCHIVED = "orphan:ipm-archived"
    # applying
    LINK_AUTOMATIC = "link:automatic"
    LINK_MANUAL = "link:manual"
    LINK_CREATED = "link:created"
    CREATE_IN_IPM = "create-in-ipm"
    CREATE_IN_LISCIO = "create-in-liscio"
    ORPHAN = "orphan"
    RESUMED = "resumed: found after an interrupted run"
    # manual operations
    MANUAL_LINK = "manual link"
    DELINK = "delink"
    NOT_A_MATCH = "not a match"
    # the review's bulk decisions (:mod:`pmtools.analysis.review`)
    REVIEW_LINK = "review: link"
    REVIEW_NOT_A_MATCH = "review: not a match"
    REVIEW_CREATE_IN_IPM = "review: create-in-ipm"
    REVIEW_CREATE_IN_LISCIO = "review: create-in-liscio"

    def __str__(self) -> str:
        return self.value


FIELD_RULES = (
    Rule.FIRST_FILL_IPM,
    Rule.FIRST_FILL_LISCIO,
    Rule.FIRST_LISCIO_WINS,
    Rule.LATER_LISCIO_TO_IPM,
)


# Skips that are record errors: the write cannot be sent until a person fixes the record
# (apply records them as errors; the pair's first sync stays due).
RECORD_ERROR_SKIPS = frozenset({Rule.SKIP_UNKNOWN_COUNTRY})


def undo_rule(run_id: int) -> str:
    """The rule name of the writes that undo run ``run_id``."""
    return f"undo:run-{run_id}"


__all__ = ["FIELD_RULES", "RECORD_ERROR_SKIPS", "Rule", "undo_rule"]
