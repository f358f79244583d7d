"""Time matching.match() against a pandas merge on normalised name keys (not a test).

Run: ``.venv/bin/python bench/matching_timing.py [accounts] [contacts]`` (defaults 100000 and
300000 per side). Prints CPU times (best of 3), the ratio, and peak memory of each. Both sides
start from the same Record objects; pandas gets the easier job (one level, no "Last, First"
reading, no middle-name level), so the ratio is conservative.
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc

import pandas as pd

from pmtools.core.matching import match
from pmtools.core.plan import SyncState
from pmtools.core.records import Kind, Record, Side

FIRST = ["Ann", "Bob", "José", "Li", "Mary", "Tom", "Zoë", "Carl", "Ngozi", "Søren"]
LAST = ["Lee", "Smith", "Núñez", "O'Brien", "De La Cruz", "Ng", "Müller", "Kowalski"]
WORDS = ["Acme", "Blue", "Cedar", "Delta", "Echo", "Fox", "Grand", "Harbor", "Iron", "Jade"]


def make(n_accounts: int, n_contacts: int, seed: int = 7):
    """Both sides' records: ~85% shared names, some duplicates, IPM people as "Last, First"."""
    rnd = random.Random(seed)
    la, ia, lc, ic = [], [], [], []
    for i in range(n_accounts):
        name = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {i % (n_accounts - 50)} LLC"
        la.append(Record(side=Side.LISCIO, kind=Kind.ACCOUNTS, id=f"a{i}", name=name))
        other = name.upper() if rnd.random() < 0.85 else f"{name} Group"
        ia.append(Record(side=Side.IPM, kind=Kind.ACCOUNTS, id=f"o{i}", name=other))
    for i in range(n_contacts):
        first, last = f"{rnd.choice(FIRST)}{i % (n_contacts - 50)}", rnd.choice(LAST)
        middle = "Q" if rnd.random() < 0.05 else None
        lc.append(
            Record(
                side=Side.LISCIO,
                kind=Kind.CONTACTS,
                id=f"c{i}",
                name="",
                first_name=first,
                middle_name=middle,
                last_name=last,
            )
        )
        r = rnd.random()
        full = f"{last}, {first}" if r < 0.5 else f"{first} {last}" if r < 0.85 else f"{first} X"
        ic.append(Record(side=Side.IPM, kind=Kind.CONTACTS, id=f"p{i}", name=full))
    rnd.shuffle(ia)
    rnd.shuffle(ic)
    return la, ia, lc, ic


def frame(records):
    """A frame of ids, names and normalised keys (duplicates flagged)."""
    df = pd.DataFrame(
        {
            "id": [r.id for r in records],
            "name": [r.name or f"{r.first_name} {r.last_name}" for r in records],
        }
    )
    df["key"] = (
        df["name"]
        .str.normalize("NFKC")
        .str.casefold()
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
    )
    df["dup"] = df["key"].duplicated(keep=False)
    return df


def with_pandas(liscio, ipm) -> int:
    """One-level exact-name merge with ambiguity flags, the pandas way, from records."""
    return merge_only(frame(liscio), frame(ipm))


def merge_only(left, right) -> int:
    """The merge alone, keys already computed."""
    merged = left.merge(right, on="key", suffixes=("_l", "_i"))
    unique = merged[~(merged["dup_l"] | merged["dup_i"])]
    return len(unique)


def timed(fn):
    tracemalloc.start()
    start = time.process_time()
    result = fn()
    seconds = time.process_time() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def main() -> None:
    n_acc = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    n_con = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    la, ia, lc, ic = make(n_acc, n_con)
    state = SyncState()
    # CPU time without tracemalloc (it slows pure Python far more than pandas); best of 3,
    # alternating, because the machine may be shared.
    ours = theirs = float("inf")
    for _ in range(3):
        start = time.process_time()
        ra, rc = match(Kind.ACCOUNTS, la, ia, state), match(Kind.CONTACTS, lc, ic, state)
        ours = min(ours, time.process_time() - start)
        start = time.process_time()
        pa, pc = with_pandas(la, ia), with_pandas(lc, ic)
        theirs = min(theirs, time.process_time() - start)
    _, _, our_peak = timed(
        lambda: (match(Kind.ACCOUNTS, la, ia, state), match(Kind.CONTACTS, lc, ic, state))
    )
    _, _, their_peak = timed(lambda: (with_pandas(la, ia), with_pandas(lc, ic)))
    print(
        f"match():      {ours:6.2f} s  peak {our_peak:7.1f} MiB  "
        f"pairs {len(ra.pairs) + len(rc.pairs)}  ambiguous groups "
        f"{len(ra.ambiguous) + len(rc.ambiguous)}"
    )
    print(f"pandas merge: {theirs:6.2f} s  peak {their_peak:7.1f} MiB  pairs {pa + pc}")
    print(f"ratio match/pandas: {ours / theirs:.2f}")
    frames = [(frame(la), frame(ia)), (frame(lc), frame(ic))]
    merge = float("inf")
    for _ in range(3):
        start = time.process_time()
        for left, right in frames:
            merge_only(left, right)
        merge = min(merge, time.process_time() - start)
    print(
        f"pandas merge alone, keys precomputed: {merge:.2f} s (match() includes computing its keys)"
    )


if __name__ == "__main__":
    main()
