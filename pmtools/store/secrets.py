"""Where a registered firm's secrets live: the OS keyring, or an owner-only file.

A firm's IPM application id ("token"), IPM access key and Liscio token are never written to the
registry, a state file or a log. They go to the OS keyring (macOS Keychain, Windows Credential
Locker, the Secret Service on a Linux desktop) through the ``keyring`` library when a usable
backend exists. A server without one (no desktop session, a container) gets
``$PMTOOLS_HOME/secrets.json`` instead, readable by its owner only (0600) — the convention of
``~/.netrc`` and the cloud CLIs — written atomically, and refused when others can read it.

``PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring`` forces the file (the tests do).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pmtools.errors import ConfigError

log = logging.getLogger(__name__)

SERVICE = "pmtools"  # the keyring's service name; the firm's slug is the "user"
FILE_NAME = "secrets.json"
FIELDS = ("ipm_token", "ipm_access_key", "liscio_token")


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmSecrets:
    """A firm's three secrets; ``repr`` hides them so they never reach a log or traceback."""

    ipm_token: str = field(repr=False)
    ipm_access_key: str = field(repr=False)
    liscio_token: str = field(repr=False)

    def as_dict(self) -> dict[str, str]:
        """The secrets by Settings field name (to build a Settings or store them)."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_dict(cls, values: Any) -> FirmSecrets | None:
        """The secrets in ``values`` (a dict), or None when any is missing or empty."""
        if not isinstance(values, dict):
            return None
        if not all(isinstance(values.get(n), str) and values[n] for n in FIELDS):
            return None
        return cls(**{n: values[n] for n in FIELDS})


class SecretStore(Protocol):
    """Where secrets are kept: get, put and delete a firm's secrets by its slug."""

    def get(self, slug: str) -> FirmSecrets | None:
        """The firm's secrets, or None when none are stored."""
        ...

    def put(self, slug: str, secrets: FirmSecrets) -> None:
        """Store (or replace) the firm's secrets."""
        ...

    def delete(self, slug: str) -> None:
        """Forget the firm's secrets (nothing happens when there are none)."""
        ...

    def where(self) -> str:
        """Where the secrets are, in words for people."""
        ...


class FileSecrets:
    """Secrets in one owner-only JSON file: ``{"firms": {slug: {field: value}}}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"FileSecrets({str(self.path)!r})"

    def where(self) -> str:
        """Where the secrets are, in words for people."""
        return f"stored in {self.path} (owner-only)"

    def _read(self) -> dict[str, Any]:
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return {"firms": {}}
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path} ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as f:
            # Checked on the open file, not the path, so a swap between the check and the read
            # cannot slip a readable file in.
            mode = os.fstat(f.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    f"{self.path} holds secrets but others can read it; make it yours alone "
                    f"with `chmod 600 {self.path}` and try again"
                )
            raw = f.read()
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ConfigError(
                f"{self.path} is not a pmtools secrets file (not JSON); move it away and enter "
                "the firms' keys again with `pmtools firm add NAME --update`"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("firms", {}), dict):
            raise ConfigError(f"{self.path} is not a pmtools secrets file; move it away")
        data.setdefault("firms", {})
        return data

    def _write(self, data: dict[str, Any]) -> None:
        # A temporary file created 0600 in the same folder, then renamed over the old one:
        # a crash leaves the old file or the new one, never half of one or a readable copy.
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", suffix=".tmp", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)  # mkstemp makes it 0600 already; say so where it matters
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def get(self, slug: str) -> FirmSecrets | None:
        """The firm's secrets, or None when none are stored."""
        return FirmSecrets.from_dict(self._read()["firms"].get(slug))

    def put(self, slug: str, secrets: FirmSecrets) -> None:
        """Store (or replace) the firm's secrets."""
        data = self._read()
        data["firms"][slug] = secrets.as_dict()
        self._write(data)

    def delete(self, slug: str) -> None:
        """Forget the firm's secrets."""
        if not self.path.exists():
            return
        data = self._read()
        if data["firms"].pop(slug, None) is not None:
            self._write(data)


class KeyringSecrets:
    """Secrets in the OS keyring: one entry per firm (service ``pmtools``, user = slug)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def __repr__(self) -> str:
        return f"KeyringSecrets({type(self.backend).__name__})"

    def where(self) -> str:
        """Where the secrets are, in words for people."""
        return "stored in the OS keyring"

    @contextmanager
    def _words(self) -> Iterator[None]:
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            yield
        except PasswordDeleteError:  # there was nothing to delete
            pass
        except KeyringError as exc:
            log.debug("keyring error: %s", type(exc).__name__)
            raise ConfigError(
                "the OS keyring refused to give or keep the firm's keys (is it locked?); "
                "unlock it and try again, or set PYTHON_KEYRING_BACKEND="
                "keyring.backends.fail.Keyring to keep them in an owner-only file instead"
            ) from None

    def get(self, slug: str) -> FirmSecrets | None:
        """The firm's secrets, or None when none are stored."""
        with self._words():
            raw = self.backend.get_password(SERVICE, slug)
        if not raw:
            return None
        try:
            return FirmSecrets.from_dict(json.loads(raw))
        except json.JSONDecodeError:
            return None

    def put(self, slug: str, secrets: FirmSecrets) -> None:
        """Store (or replace) the firm's secrets."""
        with self._words():
            self.backend.set_password(SERVICE, slug, json.dumps(secrets.as_dict()))

    def delete(self, slug: str) -> None:
        """Forget the firm's secrets."""
        with self._words():
            self.backend.delete_password(SERVICE, slug)


def usable_keyring() -> Any | None:
    """The OS keyring backend when one can really keep secrets, else None."""
    try:
        import keyring
        from keyring.backends import fail, null
    except ImportError:  # keyring is a dependency; a trimmed install falls back to the file
        return None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring configuration must not stop pmtools
        log.debug("no keyring: %s", type(exc).__name__)
        return None
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    try:
        priority = float(backend.priority)
    except Exception:
        return None
    return backend if priority > 0 else None


def secret_store(home: Path) -> SecretStore:
    """The keyring when a usable one exists, else ``home/secrets.json``."""
    backend = usable_keyring()
    if backend is not None:
        return KeyringSecrets(backend)
    return FileSecrets(home / FILE_NAME)


def find_secrets(home: Path, slug: str) -> tuple[FirmSecrets | None, SecretStore]:
    """The firm's secrets and the store holding them (the keyring, else the file).

    Secrets a firm got while no keyring was there stay readable once one appears.
    """
    store = secret_store(home)
    found = store.get(slug)
    if found is None and isinstance(store, KeyringSecrets):
        file = FileSecrets(home / FILE_NAME)
        if file.path.exists():
            from_file = file.get(slug)
            if from_file is not None:
                return from_file, file
    return found, store


def forget_secrets(home: Path, slug: str) -> None:
    """Remove the firm's secrets from the keyring and from the file, wherever they are."""
    store = secret_store(home)
    store.delete(slug)
    file = FileSecrets(home / FILE_NAME)
    if isinstance(store, KeyringSecrets) and file.path.exists():
        file.delete(slug)
