"""Link-target suggestions for linking by hand: ranked, each with the reason it was suggested.

Pure: records in, suggestions out. A :class:`SuggestionIndex` is built once per kind and side
from the records that may be linked to (say, the unlinked IPM people); it precomputes every
record's name keys so that ranking one record against 100,000 targets is one vectorised
rapidfuzz call plus a few dictionary look-ups, not a Python loop over the targets.

The reasons are an ordered list of named levels ending in "else" (as splink's comparison
levels): a candidate carries the first level it satisfies, and the levels' order is the order
of the scores, so that sorting by score sorts by reason first. Equal scores are flagged as ties
for a person to decide, never broken silently (the order among them is by name, then id, only
to be deterministic).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

from pmtools.core.names import fold_for_search, normalize_name
from pmtools.core.records import Record

__all__ = [
    "NameKeys",
    "Reason",
    "Suggestion",
    "SuggestionIndex",
    "TextColumn",
    "display_name",
    "name_keys",
    "search_text",
    "search_words",
]


class Reason(str, enum.Enum):
    """Why a record was suggested; the members are the levels, in order, ending in "else"."""

    IDENTICAL = "same name"  # the names are the very same text
    SAME_NAME = "same name but for case/spacing"
    WORD_ORDER = "same words in another order"
    LEGAL_PUNCTUATION = "same name but for LLC/Inc./punctuation"
    SAME_EMAIL = "same email"
    CONTAINS = "name contains the search"  # only from SuggestionIndex.search
    CLOSE_SPELLING = "close spelling"
    SIMILAR = "similar name"  # else

    def __str__(self) -> str:
        return self.value


# The fixed score of each exact level; fuzzy levels score their rapidfuzz ratio, capped below
# these so that a sort by score is a sort by level first.
LEVEL_SCORES: dict[Reason, float] = {
    Reason.IDENTICAL: 100.0,
    Reason.SAME_NAME: 100.0,
    Reason.WORD_ORDER: 99.0,
    Reason.LEGAL_PUNCTUATION: 98.0,
    Reason.SAME_EMAIL: 97.0,
}
FUZZY_CAP = 96.0
CLOSE_SPELLING_MIN = 85.0  # rapidfuzz ratio of the cleaned names
DEFAULT_MIN_SCORE = 70.0  # below this a name is unrelated: "Allen Catering" ~ "Lee Trucking"
SEARCH_FUZZY_MIN = 60.0
RANK_BATCH = 256  # records ranked per cdist call by rank_many (a 256 x targets score matrix)
SEARCH_FUZZY_MIN_CHARS = 3

# Legal-form words dropped for the LLC/Inc./punctuation level (after punctuation is removed,
# so "L.L.C." is "llc" and "Inc." is "inc"). Never the first word: "Co Op Bakery" stays.
LEGAL_WORDS = frozenset(
    "llc inc corp co ltd pc pllc llp cpa cpas lp pa plc corporation incorporated company "
    "limited".split()
)
_JOINERS = frozenset({"and", "&"})
_DROP = re.compile(r"[.'’`]")  # dropped: "L.L.C." -> "LLC", "O'Brien" -> "OBrien"
_SPLIT = re.compile(r"[^\w&]+")  # other punctuation separates words


@dataclass(frozen=True, slots=True, kw_only=True)
class Suggestion:
    """One suggested record: its id and name, a score 0–100, the reason, and a tie flag.

    ``tie`` is True when another candidate (shown or not) has the same score: a person decides
    between them. ``record`` is the suggested record itself, for showing its fields.
    """

    id: str
    name: str
    score: float
    reason: Reason
    tie: bool = False
    record: Record | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class NameKeys:
    """The keys of one name, one per level: see :func:`name_keys`."""

    exact: str  # normalize_name: NFKC, casefold, white space collapsed
    words: str  # the exact key's words with commas removed, in order
    order: str  # the same words sorted ("Lee, Ann" and "Ann Lee" agree)
    plain: str  # punctuation and legal-form words removed, words sorted
    fuzzy: str  # ``plain`` without accents: what close spelling is measured on


def display_name(record: Record) -> str:
    """The name shown for a record: its name, or its name parts when the name is empty."""
    if record.name and record.name.strip():
        return record.name
    return " ".join(p for p in (record.first_name, record.middle_name, record.last_name) if p)


def name_keys(name: str | None) -> NameKeys:
    """The keys a name is compared by, one per reason level."""
    exact = normalize_name(name)
    words = exact.replace(",", " ").split()
    tokens = [t for t in _SPLIT.split(_DROP.sub("", exact)) if t]
    kept = tokens[:1] + [t for t in tokens[1:] if t not in LEGAL_WORDS]
    while len(kept) > 1 and kept[-1] in _JOINERS:  # "Smith & Co" -> "smith"
        kept.pop()
    plain = " ".join(sorted(kept))
    fuzzy = " ".join(sorted(fold_for_search(t) for t in kept))  # sorted after: "élan" ~ "elan"
    return NameKeys(
        exact=exact, words=" ".join(words), order=" ".join(sorted(words)), plain=plain, fuzzy=fuzzy
    )


def search_text(*names: str) -> str:
    """What a search box looks in for these names: folded, apostrophes and dots dropped.

    Accents and case are folded (:func:`~pmtools.core.names.fold_for_search`), "O'Brien" reads
    "obrien", other punctuation separates words; names are joined by " | " so that a search
    word never spans two names. Search only: exact matching never uses this.
    """
    parts = []
    for name in names:
        words = [w for w in _SPLIT.split(_DROP.sub("", fold_for_search(normalize_name(name)))) if w]
        if words:
            parts.append(" ".join(words))
    return " | ".join(parts)


def search_words(query: str) -> list[str]:
    """A search's words, folded as :func:`search_text` folds names; each must be found.

    So word order and words left out (a middle name) do not matter: "smith john" finds "John
    Smith", "O'Connor, Siobhán" finds "Siobhán Marie O'Connor", "obrien" finds "O'Brien".
    """
    text = search_text(query)
    return list(dict.fromkeys(w for w in text.split(" ") if w and w != "|"))


def _email_key(email: str | None) -> str:
    return (email or "").strip().casefold()


class TextColumn:
    """Many strings, searched for a substring in C (numpy's string ufuncs), not a Python loop.

    The strings are held in a fixed-width unicode array; the rare string longer than
    :attr:`WIDTH` (or holding a NUL, which that array would drop) is checked in Python, so
    that one odd 5,000-character name cannot make the array 5,000 characters wide.
    """

    WIDTH = 128

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = list(texts)
        odd = [len(t) > self.WIDTH or "\0" in t for t in self._texts]
        short = ["" if o else t for t, o in zip(self._texts, odd)]
        width = max((len(t) for t in short), default=1) or 1
        self._array = np.array(short, dtype=f"<U{width}")
        self._is_odd = np.array(odd, dtype=bool)
        self._odd = np.flatnonzero(self._is_odd)

    def __len__(self) -> int:
        return len(self._texts)

    def find(self, text: str, among: np.ndarray | None = None) -> np.ndarray:
        """The sorted indices of the strings containing ``text`` (of ``among``, if given)."""
        if "\0" in text:  # the array cannot hold a NUL: look in Python
            among = np.arange(len(self._texts)) if among is None else among
            return np.array([i for i in among.tolist() if text in self._texts[i]], dtype=np.intp)
        if among is None:
            among = np.arange(len(self._texts))
            if not text:
                return among
            hits = np.flatnonzero(np.strings.find(self._array, text) >= 0)
        else:
            if not text:
                return among
            hits = among[np.strings.find(self._array[among], text) >= 0]
        odd_among = self._odd if len(among) == len(self._texts) else among[self._is_odd[among]]
        odd = [i for i in odd_among.tolist() if text in self._texts[i]]
        return np.union1d(hits, odd) if odd else hits


class SuggestionIndex:
    """Candidate link targets of one kind and side, with their keys precomputed once."""

    def __init__(self, records: Sequence[Record]) -> None:
        self._records: list[Record] = list(records)
        self._names = [display_name(r) for r in self._records]
        self._keys = [name_keys(n) for n in self._names]
        self._ids = [r.id for r in self._records]
        self._position = {rid: i for i, rid in enumerate(self._ids)}
        self._fuzzy = _contiguous([k.fuzzy for k in self._keys])
        self._exact_keys = [k.exact for k in self._keys]
        # What search looks in: the exact keys with accents folded ("bjorn" finds "Björn").
        folded = [fold_for_search(k) for k in self._exact_keys]
        self._folded = [f if f != k else k for f, k in zip(folded, self._exact_keys)]  # shared
        self._search_column = TextColumn(self._folded)
        self._lengths = np.array([max(len(f), 1) for f in self._folded], dtype=np.float32)
        self._words: TextColumn | None = None  # see _words_column
        self._word_lengths = self._lengths
        # Deterministic order among equal scores: name key, name, id.
        self._sort_name = [
            (k.exact, n, rid) for k, n, rid in zip(self._keys, self._names, self._ids)
        ]
        self._by_exact = _Buckets((k.exact, i) for i, k in enumerate(self._keys))
        self._by_order = _Buckets((k.order, i) for i, k in enumerate(self._keys))
        self._by_folded_order = _Buckets((_folded_order(f), i) for i, f in enumerate(self._folded))
        self._by_plain = _Buckets((k.plain, i) for i, k in enumerate(self._keys))
        self._by_email = _Buckets((_email_key(r.email), i) for i, r in enumerate(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def rank(
        self,
        record: Record,
        *,
        limit: int = 10,
        exclude: Collection[str] = (),
        min_score: float = DEFAULT_MIN_SCORE,
    ) -> list[Suggestion]:
        """The best link targets for ``record``, best first, each with its reason.

        ``exclude`` holds ids never to suggest (say, records already linked); candidates
        scoring under ``min_score`` are left out.
        """
        if limit <= 0 or not self._records:
            return []
        keys = name_keys(display_name(record))
        scores = self._fuzzy_scores(keys.fuzzy, min_score)
        return self._ranked(record, keys, scores, limit, exclude, min_score)

    def rank_many(
        self,
        records: Sequence[Record],
        *,
        limit: int = 1,
        exclude: Callable[[Record], Collection[str]] | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
    ) -> list[list[Suggestion]]:
        """:meth:`rank` of many records at once: the same suggestions, several times faster.

        One rapidfuzz ``cdist`` per batch of records converts the targets once and compares
        with SIMD, where a call per record converts every target again (the review queue ranks
        ~9,000 records at scale 20). ``exclude(record)`` gives each record's excluded ids.
        """
        if limit <= 0 or not self._records:
            return [[] for _ in records]
        out: list[list[Suggestion]] = []
        for start in range(0, len(records), RANK_BATCH):
            batch = records[start : start + RANK_BATCH]
            keys = [name_keys(display_name(r)) for r in batch]
            matrix = process.cdist(
                [k.fuzzy for k in keys],
                self._fuzzy,
                scorer=fuzz.ratio,
                processor=None,
                dtype=np.float32,
                score_cutoff=min_score,
                workers=1,
            )
            np.round(matrix, 1, out=matrix)
            np.minimum(matrix, FUZZY_CAP, out=matrix)
            for record, k, row in zip(batch, keys, matrix):
                if not k.fuzzy:
                    row[:] = 0.0
                out.append(
                    self._ranked(
                        record, k, row, limit, exclude(record) if exclude else (), min_score
                    )
                )
        return out

    def _ranked(
        self,
        record: Record,
        keys: NameKeys,
        scores: np.ndarray,
        limit: int,
        exclude: Collection[str],
        min_score: float,
    ) -> list[Suggestion]:
        """The exact levels over the fuzzy ``scores``, exclusions, then the best ``limit``."""
        reasons: dict[int, Reason] = {}
        # Later assignments win: the first level in order is assigned last.
        for reason, bucket in (
            (Reason.SAME_EMAIL, self._by_email.get(_email_key(record.email))),
            (Reason.LEGAL_PUNCTUATION, self._by_plain.get(keys.plain)),
            (Reason.WORD_ORDER, self._by_order.get(keys.order)),
            (Reason.SAME_NAME, self._by_exact.get(keys.exact)),
        ):
            for i in bucket:
                if reason is Reason.WORD_ORDER and self._keys[i].words == keys.words:
                    continue  # only commas differ: that is punctuation, not word order
                reasons[i] = reason
        name = display_name(record).strip()
        for i, reason in reasons.items():
            scores[i] = LEVEL_SCORES[reason]
            if reason is Reason.SAME_NAME and self._names[i].strip() == name:
                reasons[i] = Reason.IDENTICAL  # not "but for case/spacing": nothing differs
        self._exclude(scores, exclude)
        return self._top(scores, limit, min_score, lambda i, s: reasons.get(i) or _fuzzy_reason(s))

    def search(self, query: str, *, limit: int = 50) -> list[Suggestion]:
        """Records whose name matches a search box's text, for finding any record by hand.

        First the name equal to the search (case-insensitive, NFKC), then names equal but for
        word order (accents folded) or LLC/Inc./punctuation, then names containing the search
        with accents and case folded (:func:`~pmtools.core.names.fold_for_search`: "bjorn" finds
        "Björn"; the closer their length to the search's, the higher), then — when these are
        fewer than ``limit`` — close spellings. An empty search finds nothing.
        """
        keys = name_keys(query)
        if limit <= 0 or not keys.exact or not self._records:
            return []
        q = keys.exact
        scores = np.full(len(self._records), -1.0, dtype=np.float32)
        folded = fold_for_search(q)
        hits = self._search_column.find(folded)
        words = search_words(query)
        if len(words) > 1 or (words and words[0] != folded):
            # Each word anywhere, punctuation dropped: "smith john" finds "John Smith",
            # "obrien" "O'Brien", "O'Connor, Siobhán" "Siobhán Marie O'Connor".
            more = self._words_column().find(words[0])
            for word in words[1:]:
                more = self._words_column().find(word, among=more)
            more = np.setdiff1d(more, hits, assume_unique=True)
            share = np.round(100.0 * len(" ".join(words)) / self._word_lengths[more], 1)
            scores[more] = np.minimum(share, FUZZY_CAP - 1)  # below a plain substring
        share = np.round(100.0 * len(folded) / self._lengths[hits], 1)
        scores[hits] = np.minimum(share, FUZZY_CAP)  # equal but for accents: still "contains"
        scores[list(self._by_exact.get(q))] = LEVEL_SCORES[Reason.SAME_NAME]
        reasons: dict[int, Reason] = {}
        folded_order = _folded_order(folded)
        for reason, bucket in (
            (Reason.LEGAL_PUNCTUATION, self._by_plain.get(keys.plain)),
            (Reason.WORD_ORDER, self._by_folded_order.get(folded_order)),
        ):
            for i in bucket:
                # Equal but for accents (same words, same order): it "contains" the search.
                if self._exact_keys[i] != q and (
                    reason is Reason.LEGAL_PUNCTUATION or self._folded[i] != folded
                ):
                    reasons[i] = reason
                    scores[i] = LEVEL_SCORES[reason]

        def reason_of(i: int, score: float) -> Reason:
            if i in reasons:
                return reasons[i]
            if score != LEVEL_SCORES[Reason.SAME_NAME]:
                return Reason.CONTAINS
            same = self._names[i].strip() == query.strip()
            return Reason.IDENTICAL if same else Reason.SAME_NAME

        found = self._top(scores, limit, 0.0, reason_of)
        if len(found) < limit and len(q) >= SEARCH_FUZZY_MIN_CHARS:
            fuzzy = self._fuzzy_scores(keys.fuzzy, SEARCH_FUZZY_MIN)
            fuzzy[scores >= 0.0] = -1.0  # already found above
            found += self._top(
                fuzzy, limit - len(found), SEARCH_FUZZY_MIN, lambda i, s: _fuzzy_reason(s)
            )
        return found

    def _words_column(self) -> TextColumn:
        """The names as :func:`search_text` folds them, built on the first word search."""
        if self._words is None:
            texts = [search_text(n) for n in self._names]
            self._words = TextColumn(texts)
            self._word_lengths = np.array([max(len(t), 1) for t in texts], dtype=np.float32)
        return self._words

    def _fuzzy_scores(self, query_key: str, min_score: float) -> np.ndarray:
        """rapidfuzz ratio of one key against every record's, capped below the exact levels."""
        if not query_key:
            return np.zeros(len(self._records), dtype=np.float32)
        scores = process.cdist(
            [query_key],
            self._fuzzy,
            scorer=fuzz.ratio,
            processor=None,
            dtype=np.float32,
            score_cutoff=min_score,
            workers=1,
        )[0]
        np.round(scores, 1, out=scores)
        np.minimum(scores, FUZZY_CAP, out=scores)
        return scores

    def _exclude(self, scores: np.ndarray, exclude: Iterable[str]) -> None:
        for rid in exclude:
            i = self._position.get(rid)
            if i is not None:
                scores[i] = -1.0

    def _top(
        self,
        scores: np.ndarray,
        limit: int,
        min_score: float,
        reason_of: Callable[[int, float], Reason],
    ) -> list[Suggestion]:
        return [
            self._suggestion(i, scores, reason_of(i, float(scores[i])))
            for i in _top_indices(scores, limit, min_score, self._sort_name)
        ]

    def _suggestion(self, i: int, scores: np.ndarray, reason: Reason) -> Suggestion:
        score = float(scores[i])
        tie = int(np.count_nonzero(scores == scores[i])) > 1
        return Suggestion(
            id=self._ids[i],
            name=self._names[i],
            score=round(score, 1),
            reason=reason,
            tie=tie,
            record=self._records[i],
        )


def _folded_order(folded: str) -> str:
    """A search key's words without commas, sorted: "angstrom, bjorn" ~ "bjorn angstrom"."""
    return " ".join(sorted(folded.replace(",", " ").split()))


def _fuzzy_reason(score: float) -> Reason:
    return Reason.CLOSE_SPELLING if score >= CLOSE_SPELLING_MIN else Reason.SIMILAR


def _contiguous(texts: list[str]) -> list[str]:
    """The same strings, copied next to each other in memory.

    rapidfuzz reads every choice on every call; strings scattered over the heap (as records
    leave them) make a 100,000-choice scan several times slower through cache misses.
    """
    if any("\0" in t for t in texts):
        return list(texts)
    joined = "\0".join(texts)
    return joined.split("\0") if texts else []


class _Buckets:
    """Record indices by key. Singles are kept as ints: a list per key would cost a 100,000-
    record index most of its build time (in allocation and garbage-collector passes)."""

    __slots__ = ("_first", "_more")

    def __init__(self, pairs: Iterable[tuple[str, int]]) -> None:
        first: dict[str, int] = {}
        more: dict[str, list[int]] = {}
        for key, i in pairs:
            if not key:  # an empty name or email is never "the same" as another
                continue
            j = first.setdefault(key, i)
            if j != i:
                more.setdefault(key, [j]).append(i)
        self._first = first
        self._more = more

    def get(self, key: str) -> Sequence[int]:
        """The indices with ``key``, in input order."""
        if key in self._more:
            return self._more[key]
        i = self._first.get(key)
        return () if i is None else (i,)


def _top_indices(
    scores: np.ndarray, limit: int, min_score: float, sort_name: list[tuple[str, str, str]]
) -> list[int]:
    """The ``limit`` best indices with score ≥ ``min_score``: score, then name, then id."""
    valid = np.flatnonzero(scores >= max(min_score, 0.0))
    if len(valid) > limit:
        # Keep every index scoring at least the limit-th best score, ties at the cut included,
        # so that the order among equal scores is decided by name and id, not by numpy.
        cut = np.partition(scores[valid], len(valid) - limit)[len(valid) - limit]
        valid = valid[scores[valid] >= cut]
    ordered = sorted(valid.tolist(), key=lambda i: (-float(scores[i]), sort_name[i]))
    return ordered[:limit]
