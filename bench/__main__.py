"""``python -m bench``: run every benchmark, or one by name.

    python -m bench                 # every bench/<name>.py with a main(), each in its own process
    python -m bench NAME [ARGS...]  # one benchmark, ARGS passed to its main(argv)
    python -m bench --list          # the benchmarks found

A benchmark is a module ``bench/<name>.py`` (name not starting with ``_``) that defines
``main(argv: list[str] | None = None) -> int | None``; a ``main()`` without parameters also
works when no ARGS are given. The exit status is the benchmark's (0 when it returns None); when
all run, it is 1 if any of them failed or missed its goal.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmark_names() -> list[str]:
    """The names of the benchmark modules in ``bench/``, sorted (found without importing)."""
    return sorted(
        m.name
        for m in pkgutil.iter_modules([str(HERE)])
        if not m.name.startswith("_")
        and not m.ispkg
        and "def main(" in (HERE / f"{m.name}.py").read_text(encoding="utf-8")
    )


def run_one(name: str, argv: list[str]) -> int:
    """Import ``bench.<name>`` and call its ``main``; its return value as an exit status."""
    module = importlib.import_module(f"bench.{name}")
    main = getattr(module, "main", None)
    # As if run as ``python -m bench.<name> ARGS``, for a main() that reads sys.argv itself.
    sys.argv = [str(HERE / f"{name}.py"), *argv]
    if not callable(main):
        sys.stderr.write(f"bench.{name} has no main()\n")
        return 2
    if inspect.signature(main).parameters:
        result = main(argv)
    elif argv:
        sys.stderr.write(f"bench.{name}.main() takes no arguments\n")
        return 2
    else:
        result = main()
    return int(result or 0)


def run_all() -> int:
    """Run every benchmark in its own interpreter (so memory peaks are its own)."""
    names = benchmark_names()
    statuses: dict[str, tuple[int, float]] = {}
    for name in names:
        sys.stdout.write(f"== bench {name}\n")
        sys.stdout.flush()
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "bench", name], cwd=HERE.parent, check=False)
        statuses[name] = (done.returncode, time.perf_counter() - start)
    sys.stdout.write("\n== summary\n")
    for name, (code, seconds) in statuses.items():
        sys.stdout.write(f"{name:24} {'ok' if code == 0 else f'exit {code}':>8} {seconds:8.1f} s\n")
    return 0 if all(code == 0 for code, _ in statuses.values()) else 1


def main(argv: list[str] | None = None) -> int:
    """Dispatch: no arguments runs all; ``--list`` lists; a name runs that benchmark."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        return run_all()
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(__doc__ or "")
        return 0
    if argv[0] == "--list":
        sys.stdout.write("\n".join(benchmark_names()) + "\n")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in benchmark_names():
        sys.stderr.write(f"no benchmark {name!r}; found: {', '.join(benchmark_names())}\n")
        return 2
    return run_one(name, rest)


if __name__ == "__main__":
    sys.exit(main())
