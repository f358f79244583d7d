"""House rules that keep the project honest: packaging mirrors, public API, layering."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pmtools

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def _pins(lines):
    return {_name(r): r.replace(" ", "") for r in lines}


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"] + project["optional-dependencies"]["test"])
    # environment.yml is simple enough to read without a YAML parser: "  - name>=x" lines.
    conda = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.\-]+)(.*)$", line)
        if m and m.group(1) not in ("pip", "python"):
            conda[m.group(1).lower()] = (m.group(1) + m.group(2)).replace(" ", "").lower()
    for name, req in wanted.items():
        assert name in conda, f"{name} is in pyproject.toml but not environment.yml"
        bound = re.sub(r"\[.*?\]", "", req).lower()
        assert conda[name] == bound, (
            f"{name}: pyproject {bound!r} vs environment.yml {conda[name]!r}"
        )
    assert set(conda) == set(wanted), f"only in environment.yml: {set(conda) - set(wanted)}"


def test_public_api_is_listed():
    for name in pmtools.__all__:
        assert hasattr(pmtools, name), name
    public = {n for n in vars(pmtools) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(pmtools, n)).__name__ == "module"}
    assert public - modules == set(pmtools.__all__)


def _imports_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return set(out.stdout.split())


def test_pure_core_imports_no_http_or_widgets():
    loaded = _imports_after(
        "import pmtools.core.planner, pmtools.core.matching, pmtools.core.rules"
    )
    for heavy in ("httpx", "ipywidgets", "sqlite3", "pandas"):
        assert heavy not in loaded, f"the pure core imports {heavy}"


def test_importing_pmtools_has_no_side_effects(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import pmtools, os; print(sorted(os.listdir('.')))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "[]" and out.stderr == ""


def test_ci_runs_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in readme and "./dev test" in ci
    assert "./dev app" in readme
