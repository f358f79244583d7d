"""Shared test fixtures. Add yours below; keep each one documented."""

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Drive Debian's chromium (never a downloaded browser), headless, no sandbox (root)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def jupyter_dirs(tmp_path_factory):
    """Environment variables keeping Jupyter's and IPython's files in a temporary folder."""
    base = tmp_path_factory.mktemp("jupyter")
    names = (
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
        "TMPDIR",
    )
    env = {}
    for name in names:
        path = base / name.lower()
        path.mkdir()
        env[name] = str(path)
    return env


@pytest.fixture
def store(tmp_path):
    """A new state store in the test's temporary folder, closed after the test."""
    from pmtools.store import Store

    with Store.open(tmp_path / "state.sqlite") as s:
        yield s


@pytest.fixture(scope="session")
def postgres_url():
    """The URL of a throwaway PostgreSQL cluster for this test session (tests/services.py);
    skips (or fails, with PMTOOLS_REQUIRE_SERVICES=1) where PostgreSQL is not installed."""
    from services import postgres_cluster

    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url():
    """The URL of a throwaway Redis for this test session (tests/services.py); skips (or
    fails, with PMTOOLS_REQUIRE_SERVICES=1) where Redis is not installed."""
    from services import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture(autouse=True)
def pmtools_home(tmp_path_factory, monkeypatch):
    """Every test gets its own PMTOOLS_HOME (registry, firms' state, queue, secrets file) and
    the file fallback for secrets: no test touches the real home folder or a real keyring."""
    home = tmp_path_factory.mktemp("pmtools-home")
    monkeypatch.setenv("PMTOOLS_HOME", str(home))
    # Subprocesses started without the PMTOOLS_* variables (the end-to-end tests) fall back on
    # platformdirs' folder: keep that in the test's folder too, never the real home.
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("PMTOOLS_DATABASE_URL", raising=False)
    monkeypatch.delenv("PMTOOLS_QUEUE_URL", raising=False)
    return home
