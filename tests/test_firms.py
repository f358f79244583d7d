"""Firms as the unit: where their secrets live (keyring or an owner-only file) and how a name
resolves to settings and a state store (``pmtools.store.firms``)."""

import json
import os
import stat

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from pmtools.config import Settings
from pmtools.errors import ConfigError
from pmtools.store.backend import backend_from_env
from pmtools.store.firms import ENVIRONMENT, open_state, resolve
from pmtools.store.registry import FirmUnknown
from pmtools.store.secrets import (
    FileSecrets,
    FirmSecrets,
    KeyringSecrets,
    find_secrets,
    forget_secrets,
    secret_store,
)

SECRETS = FirmSecrets(
    ipm_token="ipm-app-id-S3CR3T-1", ipm_access_key="ipm-key-S3CR3T-2", liscio_token="lis-S3CR3T-3"
)


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps passwords in memory (the OS keyring stands in)."""

    priority = 5

    def __init__(self):
        super().__init__()
        self.passwords = {}

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError("no such password")


@pytest.fixture
def memory_keyring():
    """The in-memory keyring as the process's keyring, the configured one put back after."""
    before = keyring.get_keyring()
    ring = MemoryKeyring()
    keyring.set_keyring(ring)
    try:
        yield ring
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def home(pmtools_home, monkeypatch):
    for var in (
        "PMTOOLS_FIRM",
        "PMTOOLS_STATE",
        "PMTOOLS_LISCIO_URL",
        "PMTOOLS_LISCIO_TOKEN",
        "PMTOOLS_IPM_URL",
        "PMTOOLS_IPM_TOKEN",
        "PMTOOLS_IPM_ACCESS_KEY",
        "PMTOOLS_IPM_RATE_LIMIT",
        "PMTOOLS_SIMULATOR",
    ):
        monkeypatch.delenv(var, raising=False)
    return pmtools_home


def _register(name, **values):
    with backend_from_env().registry() as registry:
        return registry.add_firm(name, **values)


def _files_bytes(home, *, but=("secrets.json",)):
    out = b""
    for path in home.rglob("*"):
        if path.is_file() and path.name not in but:
            out += path.read_bytes()
    return out


# -- secrets ---------------------------------------------------------------------------------
def test_secrets_go_to_an_owner_only_file_without_a_keyring(home):
    store = secret_store(home)
    assert isinstance(store, FileSecrets)  # conftest: the fail keyring
    store.put("acme", SECRETS)
    path = home / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert store.get("acme") == SECRETS and store.get("other") is None
    assert "owner-only" in store.where() and "secrets.json" in store.where()
    store.put("other", SECRETS)
    store.delete("acme")
    assert store.get("acme") is None and store.get("other") == SECRETS
    # no temporary file left; the lock file beside it is empty
    assert sorted(p.name for p in home.iterdir()) == ["secrets.json", "secrets.json.lock"]
    assert (home / "secrets.json.lock").read_bytes() == b""


def test_writers_at_once_lose_no_firm(home):
    """Two `firm add` at once: each rewrites the whole file, so they take turns."""
    import threading

    store = FileSecrets(home / "secrets.json")

    def add(prefix):
        for n in range(25):
            FileSecrets(store.path).put(f"{prefix}-{n}", SECRETS)

    threads = [threading.Thread(target=add, args=(p,)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(json.loads(store.path.read_text())["firms"]) == 100


def test_a_secrets_file_others_can_read_is_refused(home):
    store = FileSecrets(home / "secrets.json")
    store.put("acme", SECRETS)
    os.chmod(store.path, 0o644)
    with pytest.raises(ConfigError, match=r"chmod 600 .*secrets\.json") as refused:
        store.get("acme")
    assert "S3CR3T" not in str(refused.value)
    with pytest.raises(ConfigError, match="chmod 600"):
        store.put("acme", SECRETS)  # nor written to (it reads first)


def test_a_secrets_file_that_is_not_json_is_refused_in_words(home):
    path = home / "secrets.json"
    path.write_text("ipm_token=x\n")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="not a pmtools secrets file"):
        FileSecrets(path).get("acme")


def test_secrets_never_show_in_repr():
    assert "S3CR3T" not in repr(SECRETS)
    settings = Settings(**SECRETS.as_dict())
    assert "S3CR3T" not in repr(settings)


def test_the_keyring_is_used_when_it_is_usable(home, memory_keyring):
    store = secret_store(home)
    assert isinstance(store, KeyringSecrets) and store.where() == "stored in the OS keyring"
    store.put("acme", SECRETS)
    assert store.get("acme") == SECRETS
    assert ("pmtools", "acme") in memory_keyring.passwords
    assert not (home / "secrets.json").exists()
    forget_secrets(home, "acme")
    assert memory_keyring.passwords == {}
    forget_secrets(home, "acme")  # twice is harmless


def test_file_secrets_stay_readable_once_a_keyring_appears(home, memory_keyring):
    FileSecrets(home / "secrets.json").put("acme", SECRETS)
    found, where = find_secrets(home, "acme")
    assert found == SECRETS and isinstance(where, FileSecrets)
    forget_secrets(home, "acme")
    assert FileSecrets(home / "secrets.json").get("acme") is None


# -- resolution ------------------------------------------------------------------------------
def test_no_firm_is_the_environment_firm_exactly_as_before(home, tmp_path, monkeypatch):
    monkeypatch.setenv("PMTOOLS_LISCIO_URL", "http://liscio.test")
    monkeypatch.setenv("PMTOOLS_IPM_TOKEN", "env-token")
    firm = resolve(None, state=str(tmp_path / "s.sqlite"))
    assert (firm.slug, firm.registered, firm.firm, firm.backend) == (ENVIRONMENT, False, None, None)
    assert firm.settings == Settings.from_env(state_path=str(tmp_path / "s.sqlite"))
    assert firm.settings.firm is None
    with firm.open_store() as store:
        assert store.path == tmp_path / "s.sqlite"
    assert list(home.iterdir()) == []  # the environment firm does not touch PMTOOLS_HOME


def test_a_registered_firm_takes_the_registry_and_its_secrets(home, monkeypatch):
    _register("Acme & Sons", ipm_url="http://ipm.test", liscio_url="http://lis.test",
              ipm_rate_limit=60)  # fmt: skip
    secret_store(home).put("acme-sons", SECRETS)
    # another firm's environment is ignored for it; the limits still apply
    monkeypatch.setenv("PMTOOLS_LISCIO_URL", "http://elsewhere.test")
    monkeypatch.setenv("PMTOOLS_IPM_TOKEN", "env-token")
    monkeypatch.setenv("PMTOOLS_STATE", "/nowhere/state.sqlite")
    monkeypatch.setenv("PMTOOLS_MAX_PAGES", "7")
    firm = resolve("ACME & sons")
    s = firm.settings
    assert (firm.slug, firm.name, firm.registered) == ("acme-sons", "Acme & Sons", True)
    assert (s.liscio_url, s.ipm_url, s.ipm_rate_limit, s.max_pages) == (
        "http://lis.test",
        "http://ipm.test",
        60,
        7,
    )
    assert (s.ipm_token, s.ipm_access_key, s.liscio_token) == (
        SECRETS.ipm_token,
        SECRETS.ipm_access_key,
        SECRETS.liscio_token,
    )
    assert s.firm == "acme-sons" and s.state_path == home / "firms" / "acme-sons" / "state.sqlite"
    assert "S3CR3T" not in repr(firm)
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "30")  # the operator's cap wins
    assert resolve("acme-sons").settings.ipm_rate_limit == 30
    # `pmtools app`'s demo simulator: its unpaced rate is the environment firm's, not a cap
    # on the registered firms (the app's worker would sync real tenants unpaced)
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "0")
    monkeypatch.setenv("PMTOOLS_SIMULATOR", "1")
    assert resolve("acme-sons").settings.ipm_rate_limit == 60
    monkeypatch.delenv("PMTOOLS_SIMULATOR")
    with firm.open_store() as store:
        assert store.path == s.state_path
    with open_state(s) as store:  # from the settings alone (what the commands hold)
        assert store.path == s.state_path
    assert b"S3CR3T" not in _files_bytes(home)


def test_pmtools_firm_names_the_firm_too(home, monkeypatch):
    _register("Acme", simulator=True)
    monkeypatch.setenv("PMTOOLS_FIRM", "acme")
    firm = resolve(None)
    assert firm.slug == "acme" and firm.settings.simulator
    assert firm.settings.ipm_token  # the simulator's documented credentials, not secrets


def test_firm_and_state_together_are_refused(home, monkeypatch):
    _register("Acme", simulator=True)
    with pytest.raises(ConfigError, match="--firm and --state cannot be used together"):
        resolve("Acme", state="other.sqlite")
    monkeypatch.setenv("PMTOOLS_FIRM", "Acme")
    with pytest.raises(ConfigError, match="PMTOOLS_FIRM and --state"):
        resolve(None, state="other.sqlite")


def test_an_unknown_firm_lists_the_registered_ones(home):
    _register("Acme", simulator=True)
    _register("Bravo Ltd", simulator=True)
    with pytest.raises(FirmUnknown, match="registered: Acme, Bravo Ltd"):
        resolve("Charlie")


def test_missing_secrets_say_how_to_enter_them_again(home):
    _register("O'Brien & Co", ipm_url="http://ipm.test", liscio_url="http://lis.test")
    with pytest.raises(ConfigError) as missing:
        resolve("O'Brien & Co")
    text = str(missing.value)
    assert "pmtools firm add" in text and "--update" in text and "O'Brien" in text


def test_the_environment_reads_the_secrets_file_with_its_own_environ(home, tmp_path):
    other_home = tmp_path / "other-home"
    environ = {"PMTOOLS_HOME": str(other_home)}
    backend = backend_from_env(environ)
    with backend.registry() as registry:
        registry.add_firm("Delta", ipm_url="http://ipm.test", liscio_url="http://lis.test")
    secret_store(other_home).put("delta", SECRETS)
    firm = resolve("Delta", environ)  # positional too, as the jobs engineer calls it
    assert firm.backend.home == other_home
    with firm.open_store() as store:
        assert store.path.is_relative_to(other_home)
    assert json.loads((other_home / "secrets.json").read_text())["firms"]["delta"]


def test_the_environment_slug_names_the_environment_firm(home, tmp_path):
    """What a worker does with a job recorded under the reserved slug ``environment``."""
    firm = resolve("environment", state=str(tmp_path / "s.sqlite"))
    assert firm.slug == ENVIRONMENT and not firm.registered


def test_the_environment_firm_is_the_demo_firm_when_it_is_the_bundled_simulator():
    from pmtools.store.firms import resolve

    assert resolve(None, {}).name == "This firm (from the environment)"
    assert resolve(None, {"PMTOOLS_SIMULATOR": "1"}).name == "Demo firm (the bundled simulator)"
