"""pmtools benchmarks: one module per area, each with ``main(argv=None) -> int | None``.

Run them all with ``python -m bench``, or one with ``python -m bench NAME [ARGS...]``.
To add a benchmark, add ``bench/<name>.py`` with a ``main`` function; it writes its results
under ``bench/results/`` (see :data:`RESULTS`). Modules whose names start with ``_`` are
helpers, not benchmarks.
"""

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
