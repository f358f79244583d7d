"""Which firm a command or page works on: a registered firm, or the environment firm.

``resolve(name)`` is the one place the CLI, the app and the worker turn "a firm" into its
settings (secrets included) and its state store:

- ``name`` (``--firm NAME`` or ``PMTOOLS_FIRM``) names a **registered** firm: its URLs and rate
  limit come from the registry, its secrets from the keyring or the owner-only file
  (:mod:`pmtools.store.secrets`), its state from the backend (``firms/<slug>/state.sqlite``).
  The service variables ``PMTOOLS_LISCIO_URL``… are ignored for it (another firm's, perhaps);
  the limits (``PMTOOLS_IPM_RATE_LIMIT``, ``PMTOOLS_REQUEST_DEADLINE``…) still apply.
- no name is the **environment firm**: today's single-firm behaviour exactly (``PMTOOLS_*``,
  ``--state``/``PMTOOLS_STATE``), recorded in the registry's jobs under the slug ``environment``.

A registered firm never takes ``--state``: two firms must never share a state, and the tenant
guard (:mod:`pmtools.engine.tenant`) refuses a state bound to another firm anyway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pmtools.config import (
    ENV,
    SANDBOX_IPM_ACCESS_KEY,
    SANDBOX_IPM_TOKEN,
    SANDBOX_LISCIO_TOKEN,
    Settings,
)
from pmtools.errors import ConfigError
from pmtools.store.backend import Backend, backend_from_env
from pmtools.store.secrets import find_secrets

if TYPE_CHECKING:
    from pmtools.store.core import Store
    from pmtools.store.registry import Firm

FIRM_ENV = "PMTOOLS_FIRM"
ENVIRONMENT = "environment"  # the reserved slug of the environment firm (not a registry row)
ENVIRONMENT_NAME = "This firm (from the environment)"
# what the environment firm is called when it is the simulator `pmtools app` started (the demo)
SIMULATOR_NAME = "Demo firm (the bundled simulator)"


def environment_name(settings: Settings) -> str:
    """The environment firm's name for people: the demo's when it is the bundled simulator."""
    return SIMULATOR_NAME if settings.simulator else ENVIRONMENT_NAME


# For a registered firm these say nothing: its services and state come from the registry.
_FIRM_IGNORES = frozenset({*ENV.values(), "PMTOOLS_SIMULATOR"})


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmContext:
    """One firm, resolved: its name, settings (with secrets, hidden from ``repr``) and store."""

    slug: str  # the registry's slug, or "environment"
    name: str  # for people: the registered name, or "This firm (from the environment)"
    settings: Settings  # state_path is the firm's own store path; secrets included
    registered: bool  # False: the environment firm
    firm: Firm | None = None  # the registry's row (None for the environment firm)
    backend: Backend | None = None  # where a registered firm's state lives

    def open_store(self, *, start_over: bool = False) -> Store:
        """Open (or create) this firm's state store; close it, or use it as a context manager."""
        if self.backend is not None:
            return self.backend.open_store(self.slug, start_over=start_over)
        return open_state(self.settings, start_over=start_over)


def firm_name_from(name: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """``name``, else ``PMTOOLS_FIRM``, else None (the environment firm)."""
    environ = os.environ if environ is None else environ
    if name is not None and name.strip():
        return name
    return environ.get(FIRM_ENV, "").strip() or None


def resolve(
    name: str | None, environ: Mapping[str, str] | None = None, *, state: str | None = None
) -> FirmContext:
    """The firm ``name`` (or ``PMTOOLS_FIRM``; neither, or ``"environment"``: the environment
    firm), resolved.

    ``state`` is ``--state``: only for the environment firm (ConfigError with a firm name).
    Raises FirmUnknown (a ConfigError listing the registered names) for an unknown name and
    ConfigError when a registered firm's secrets are missing.
    """
    environ = os.environ if environ is None else environ
    flag_given = name is not None and bool(name.strip())
    name = firm_name_from(name, environ)
    if name is None or name == ENVIRONMENT:  # a job's firm slug names it too
        settings = Settings.from_env(environ, state_path=state)
        return FirmContext(
            slug=ENVIRONMENT,
            name=environment_name(settings),
            settings=settings,
            registered=False,
        )
    if state:
        where = "--firm" if flag_given else FIRM_ENV
        raise ConfigError(
            f"{where} and --state cannot be used together: a registered firm keeps its own "
            "state, so drop --state (or drop the firm to use that state file)"
        )
    backend = backend_from_env(environ)
    with backend.registry() as registry:
        firm = registry.get_firm(name)
    return context_for(firm, backend=backend, environ=environ)


def context_for(
    firm: Firm, *, backend: Backend, environ: Mapping[str, str] | None = None
) -> FirmContext:
    """The context of a registered ``firm`` (its secrets read now)."""
    environ = os.environ if environ is None else environ
    secrets, _ = find_secrets(backend.home, firm.slug)
    if secrets is not None:
        keys = secrets.as_dict()
    elif firm.simulator:  # the simulator's documented credentials are not secrets
        keys = {
            "ipm_token": SANDBOX_IPM_TOKEN,
            "ipm_access_key": SANDBOX_IPM_ACCESS_KEY,
            "liscio_token": SANDBOX_LISCIO_TOKEN,
        }
    else:
        raise ConfigError(
            f"the keys of the firm {firm.name!r} are missing (was the keyring reset?); "
            f"enter them again with `pmtools firm add {_shell_word(firm.name)} --update`"
        )
    settings = firm_settings(
        environ,
        state_path=backend.store_path(firm.slug),
        liscio_url=firm.liscio_url,
        ipm_url=firm.ipm_url,
        ipm_rate_limit=firm.ipm_rate_limit,
        simulator=firm.simulator or None,
        firm=firm.slug,
        **keys,
    )
    return FirmContext(
        slug=firm.slug,
        name=firm.name,
        settings=settings,
        registered=True,
        firm=firm,
        backend=backend,
    )


def firm_settings(
    environ: Mapping[str, str] | None = None, *, ipm_rate_limit: int = 120, **values: object
) -> Settings:
    """A registered firm's Settings from ``values`` (URLs, keys, …) and the limits of
    ``environ``: its ``PMTOOLS_*`` service variables are another firm's, so they are ignored;
    ``PMTOOLS_IPM_RATE_LIMIT``, when set, wins over the firm's own (an operator's cap) — but
    not beside ``PMTOOLS_SIMULATOR=1``: there it is the pace of the simulator `pmtools app`
    started for the environment firm (0, unpaced), which must not unpace the real firms."""
    environ = os.environ if environ is None else environ
    limits_only = {k: v for k, v in environ.items() if k not in _FIRM_IGNORES}
    settings = Settings.from_env(limits_only, **values)
    apps_simulator = environ.get("PMTOOLS_SIMULATOR", "").strip() == "1"
    if apps_simulator or not environ.get("PMTOOLS_IPM_RATE_LIMIT", "").strip():
        settings = replace(settings, ipm_rate_limit=ipm_rate_limit)
    return settings


def open_state(settings: Settings, *, start_over: bool = False) -> Store:
    """Open the state store ``settings`` are for: a registered firm's from the backend (of
    ``os.environ``), else the file at ``settings.state_path`` (the environment firm)."""
    from pmtools.store.core import Store

    if settings.firm:
        return backend_from_env().open_store(settings.firm, start_over=start_over)
    return Store.open(settings.state_path, start_over=start_over)


def state_exists(settings: Settings) -> bool:
    """True when the state store ``settings`` are for exists already (a look: nothing is made,
    so a report says "nothing yet" rather than create a state)."""
    if settings.firm:
        backend = backend_from_env()
        # On PostgreSQL a firm's state is a schema, not the file at state_path.
        look = getattr(backend, "store_exists", None)
        if look is not None:
            return bool(look(settings.firm))
    return settings.state_path.exists()


def _shell_word(text: str) -> str:
    """``text`` quoted for a shell command line in a message."""
    import shlex

    return shlex.quote(text)


__all__ = [
    "ENVIRONMENT",
    "ENVIRONMENT_NAME",
    "SIMULATOR_NAME",
    "environment_name",
    "FIRM_ENV",
    "FirmContext",
    "context_for",
    "firm_name_from",
    "firm_settings",
    "open_state",
    "resolve",
    "state_exists",
]
