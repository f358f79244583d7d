"""Where the registry and each firm's state live: SQLite files (default) or PostgreSQL.

``PMTOOLS_DATABASE_URL`` selects the backend (unset: SQLite files in ``PMTOOLS_HOME``); the code
above the store asks a :class:`Backend` for the registry and a firm's store and never knows
which one it got.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pmtools.errors import ConfigError
from pmtools.store.core import Store
from pmtools.store.registry import Registry
from pmtools.store.sql import SqliteSql

HOME_ENV = "PMTOOLS_HOME"
DATABASE_ENV = "PMTOOLS_DATABASE_URL"
REGISTRY_SCHEMA = "pmtools"  # on PostgreSQL; each firm's state is in schema firm_<slug>


def firm_schema(slug: str) -> str:
    """The PostgreSQL schema of the firm with ``slug``: ``firm_<slug>``, ``-`` written ``_``.

    Registry slugs are lower-case letters, digits and ``-`` (see ``slug_for``), so that spelling
    is one-to-one; any other slug (or a long one) gets a short hash of itself as well, so that
    two slugs never share a schema.
    """
    name = "firm_" + slug.replace("-", "_")
    if re.fullmatch(r"[a-z0-9-]+", slug) and len(name) <= 63:
        return name
    digest = hashlib.sha256(slug.encode()).hexdigest()[:8]
    plain = re.sub(r"[^a-z0-9_]", "_", name.lower())
    return f"{plain[:54]}_{digest}"


def home_from_env(environ: Mapping[str, str] | None = None) -> Path:
    """``PMTOOLS_HOME``, or the user's data folder for pmtools (created owner-only)."""
    environ = os.environ if environ is None else environ
    raw = environ.get(HOME_ENV, "").strip()
    if raw:
        home = Path(raw).expanduser()
    else:
        import platformdirs

        home = Path(platformdirs.user_data_dir("pmtools", appauthor=False))
    try:
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"cannot use {home} as pmtools' folder ({exc.strerror}); set {HOME_ENV} to a "
            "folder you can write"
        ) from None
    return home


@dataclass(frozen=True, slots=True, kw_only=True)
class Backend:
    """The state backend: ``home`` always (queue, secrets file); ``url`` for PostgreSQL."""

    home: Path
    url: str | None = field(default=None, repr=False)  # may hold a password: never shown

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "postgresql" if self.url else "sqlite"

    def registry(self) -> Registry:
        """A new connection to the registry (close it, or use it as a context manager)."""
        if self.url:
            from pmtools.store.postgres import PostgresSql

            sql = PostgresSql(self.url, REGISTRY_SCHEMA)
            try:
                return Registry(sql)
            except BaseException:
                sql.close()
                raise
        return Registry(SqliteSql(self.home / "registry.sqlite"))

    def store_path(self, slug: str) -> Path:
        """The SQLite state file of the firm with ``slug``."""
        return self.home / "firms" / slug / "state.sqlite"

    def store_exists(self, slug: str) -> bool:
        """True when the firm with ``slug`` has a state store already (reports and ``runs``
        say "nothing yet" rather than make one); a look only: nothing is created."""
        if self.url:
            from pmtools.store.pgstore import store_exists

            return store_exists(self.url, firm_schema(slug))
        return self.store_path(slug).exists()

    def open_store(self, slug: str, *, start_over: bool = False) -> Store:
        """Open (or create) the state store of the firm with ``slug``."""
        if self.url:
            return Store.open_postgres(self.url, firm_schema(slug))
        path = self.store_path(slug)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        return Store.open(path, start_over=start_over)

    def describe(self) -> str:
        """Where the state is, in words (never a password)."""
        if self.url:
            from pmtools.store.postgres import describe_url

            return describe_url(self.url)
        return f"SQLite files in {self.home}"


def backend_from_env(environ: Mapping[str, str] | None = None) -> Backend:
    """The backend ``PMTOOLS_DATABASE_URL`` and ``PMTOOLS_HOME`` select."""
    environ = os.environ if environ is None else environ
    home = home_from_env(environ)
    url = environ.get(DATABASE_ENV, "").strip() or None
    if url is not None:
        from pmtools.store.postgres import check_url

        check_url(url, variable=DATABASE_ENV)
    return Backend(home=home, url=url)
