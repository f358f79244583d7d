"""Which firm a job is for: its settings (with secrets) and its state store.

A registered firm is resolved by :func:`pmtools.store.firms.context_for` (the firm registry
and its secrets). The **environment firm** (no ``--firm``: ``PMTOOLS_*`` variables and
``--state``, as before firms existed) is keyed in the registry by its state file: two commands
with two state files are two firms, so ``environment-<hash of the state file's path>``. A
worker runs an environment job only when its own environment names the same state file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pmtools.config import Settings
from pmtools.errors import ConfigError
from pmtools.store import Store
from pmtools.store.backend import Backend
from pmtools.store.firms import ENVIRONMENT, ENVIRONMENT_NAME, environment_name

__all__ = ["ENVIRONMENT", "ENVIRONMENT_NAME", "JobFirm", "environment_firm", "firm_words"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFirm:
    """A firm as a job sees it: its registry slug, its name in words, its settings."""

    slug: str
    name: str
    settings: Settings = field(repr=False)
    open_store: Callable[[], Store] = field(repr=False, compare=False)
    rate_limit: int = 120  # IPM requests a minute (0: none), for the ETA


def environment_slug(state_path: Path | str) -> str:
    """The registry key of the environment firm whose state file is ``state_path``."""
    absolute = str(Path(state_path).expanduser().resolve())
    return f"{ENVIRONMENT}-{hashlib.sha256(absolute.encode()).hexdigest()[:12]}"


def is_environment(slug: str) -> bool:
    """True for the environment firm's keys (never a registered firm's)."""
    return slug == ENVIRONMENT or slug.startswith(ENVIRONMENT + "-")


def firm_words(slug: str, registry: Any | None = None) -> str:
    """A firm's name for people ("This firm (from the environment)" for the environment's)."""
    if is_environment(slug):
        return environment_name(Settings.from_env())
    if registry is not None:
        try:
            return str(registry.get_firm(slug).name)
        except ConfigError:
            pass
    return slug


def environment_firm(settings: Settings) -> JobFirm:
    """The environment firm of ``settings`` (a command's own, or a worker's environment)."""
    path = Path(settings.state_path).expanduser().resolve()
    settings = replace(settings, state_path=path)
    return JobFirm(
        slug=environment_slug(path),
        name=environment_name(settings),
        settings=settings,
        open_store=lambda: Store.open(path),
        rate_limit=settings.ipm_rate_limit,
    )


def resolve_job_firm(
    slug: str, *, backend: Backend, environ: Mapping[str, str] | None = None
) -> JobFirm:
    """The firm of a job's ``slug``; ConfigError when this process cannot serve it."""
    environ = os.environ if environ is None else environ
    if is_environment(slug):
        firm = environment_firm(Settings.from_env(environ))
        if firm.slug != slug:
            raise ConfigError(
                "this job belongs to a firm set up by another command's environment; "
                "run `pmtools sync` again there"
            )
        return firm
    return _registered(slug, backend=backend, environ=environ)


def _registered(slug: str, *, backend: Backend, environ: Mapping[str, str]) -> JobFirm:
    """A registered firm, resolved by the firm registry (its secrets read now)."""
    from pmtools.store.firms import context_for

    with backend.registry() as registry:
        firm = registry.get_firm(slug)
    context = context_for(firm, backend=backend, environ=environ)
    return JobFirm(
        slug=firm.slug,
        name=firm.name,
        settings=context.settings,
        open_store=context.open_store,
        rate_limit=context.settings.ipm_rate_limit,
    )
