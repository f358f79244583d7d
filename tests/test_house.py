"""The rules of the house, checked by tools: ruff (lint and format), mypy (strict on the core
and the engine) and the import contracts of the layers (import-linter, in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CHECKED = ["pmtools", "tests", "bench"]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("ruff", "check", "--no-cache", *CHECKED), id="ruff-lint"),
        pytest.param(("ruff", "format", "--check", "--no-cache", *CHECKED), id="ruff-format"),
        pytest.param(("mypy", "--no-incremental"), id="mypy-strict-core-engine"),
        pytest.param(("lint-imports", "--no-cache"), id="import-contracts"),
    ],
)
def test_the_house_rules_hold(argv: tuple[str, ...]) -> None:
    tool = BIN / argv[0]
    done = _run(str(tool), *argv[1:])
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
