"""CLI: ``firm add``, ``firm list``, ``firm show``, ``firm remove``, ``firm test`` and
``firm schedule`` — the registry of the firms pmtools serves (see :mod:`pmtools.store.firms`).

Secrets (the IPM application id and access key, the Liscio token) are read from the
``PMTOOLS_*`` variables when set, else asked for without echo; never from flags (a flag lands in
the shell's history and in ``ps``). They go to the OS keyring or the owner-only secrets file and
are never shown back.

``firm add`` checks the connection before it registers anything: wrong keys or an unreachable
service register nothing. The firm's state is then bound to its IPM tenant and Liscio firm (the
tenant guard), and both identities are kept in the registry so that listings need no request.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import re
import shlex
import shutil
import sys
from typing import Any

from pmtools.cli import firm_views
from pmtools.config import KARBON_URL, Settings
from pmtools.core.text import for_terminal
from pmtools.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    LockHeld,
    PmtoolsError,
    TenantMismatch,
)

log = logging.getLogger(__name__)

SECRET_PROMPTS = (
    ("ipm_token", "PMTOOLS_IPM_TOKEN", "IPM application id"),
    ("ipm_access_key", "PMTOOLS_IPM_ACCESS_KEY", "IPM access key"),
    ("liscio_token", "PMTOOLS_LISCIO_TOKEN", "Liscio API token"),
)


def register(subparsers: Any) -> None:
    """Add ``pmtools firm …`` to the ``pmtools`` parser."""
    firm = subparsers.add_parser("firm", help="the firms pmtools serves: add, list, test, …")
    sub = firm.add_subparsers(dest="firm_command", metavar="ACTION", required=True)

    p = sub.add_parser(
        "add",
        help="register a firm (keys asked for, or from PMTOOLS_*), check it, bind its state",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("--ipm-url", help=f"IPM (Karbon) API URL (default {KARBON_URL})")
    p.add_argument("--liscio-url", help="Liscio API URL (asked for when not given)")
    p.add_argument(
        "--rate-limit",
        type=_rate,
        default=None,
        metavar="N",
        help="IPM requests a minute for this firm (default 120, Karbon's limit; 0: no pacing)",
    )
    p.add_argument(
        "--update", action="store_true", help="a registered firm: enter its keys (and URLs) again"
    )
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("list", help="the registered firms, their tenants and last jobs")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    p.set_defaults(func=firm_views.cmd_list)

    p = sub.add_parser("show", help="one firm's settings (never its keys)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=firm_views.cmd_show)

    p = sub.add_parser("remove", help="forget a firm and its keys (its state file is kept)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.add_argument("--delete-state", action="store_true", help="delete the firm's state file too")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("test", help="the connection check: both services, the tenant guard")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("schedule", help="sync the firm every N minutes, or not")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--every", required=True, type=_every, metavar="60m|2h|off", help="how often, or off"
    )
    p.set_defaults(func=cmd_schedule)


# -- parsing ---------------------------------------------------------------------------------
def _rate(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _every(text: str) -> int | None:
    """``off`` → None; ``90``/``90m`` → 90; ``2h`` → 120 (minutes, at least 1)."""
    word = text.strip().lower()
    if word in ("off", "none", "never"):
        return None
    found = re.fullmatch(r"(\d+)\s*(m|min|minutes?|h|hours?)?", word)
    if not found:
        raise argparse.ArgumentTypeError(f"say how often as 60m, 2h or off, not {text!r}")
    minutes = int(found.group(1)) * (60 if (found.group(2) or "m").startswith("h") else 1)
    if minutes < 1:
        raise argparse.ArgumentTypeError("a schedule needs at least 1 minute between syncs")
    return minutes


def _ask(prompt: str, *, secret: bool = False) -> str:
    """One answer from the person: asked on a terminal (a secret without echo); else the next
    line of stdin, unasked (``printf '%s\\n' … | pmtools firm add NAME``)."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
    elif secret:
        return getpass.getpass(f"{prompt}: ").strip()
    else:
        print(f"{prompt}: ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
    if not line:
        return ""
    return line.strip()


def _value(flag: str | None, env_var: str, prompt: str, *, default: str | None = None) -> str:
    """A URL from its flag, else its variable, else asked for (``default`` on an empty answer)."""
    import os

    if flag:
        return flag.strip()
    from_env = os.environ.get(env_var, "").strip()
    if from_env:
        return from_env
    answer = _ask(f"{prompt} [{default}]" if default else prompt)
    if answer:
        return answer
    if default:
        return default
    raise ConfigError(f"no {prompt} was given; nothing was registered — pass it or set {env_var}")


def _secrets() -> Any:
    """The three secrets from their variables, else asked for without echo."""
    import os

    from pmtools.store.secrets import FirmSecrets

    values = {}
    for name, var, prompt in SECRET_PROMPTS:
        value = os.environ.get(var, "").strip() or _ask(prompt, secret=True)
        if not value:
            raise ConfigError(
                f"no {prompt} was given; nothing was registered — type it when asked or set {var}"
            )
        values[name] = value
    return FirmSecrets(**values)


def _quote(name: str) -> str:
    return shlex.quote(name)


# -- the connection check --------------------------------------------------------------------
def _identities(
    settings: Settings, firm_name: str, *, store: Any = None, adding: bool = False
) -> tuple[Any, Any]:
    """(liscio identity, ipm identity) the services answer with, checked against ``store``;
    refused keys are a ConfigError in words (``adding``: nothing was registered), an
    unreachable service a ConnectorError (exit 5), with ``adding`` in words too."""
    from pmtools.connectors.factory import connect
    from pmtools.core.records import Side
    from pmtools.engine.tenant import check_tenant

    settings.require_services()
    liscio, ipm = connect(settings)
    try:
        if store is not None:
            found = check_tenant(store, liscio=liscio, ipm=ipm)
            return found[Side.LISCIO], found[Side.IPM]
        return liscio.identity(), ipm.identity()
    except AuthError as exc:
        raise ConfigError(auth_text(exc, firm_name, adding=adding)) from None
    except ConnectorError as exc:
        if not adding:
            raise
        log.debug("connection check: %s", exc)
        system = {"liscio": "Liscio", "ipm": "IPM"}.get(exc.side, "a service")
        raise PmtoolsError(
            f"{system} did not answer the connection check for {firm_name!r}, so nothing was "
            f"registered — check its URL and that {system} is up (`pmtools -v …` shows "
            "details), then add the firm again"
        ) from None
    finally:
        liscio.close()
        ipm.close()


def auth_text(exc: AuthError, firm_name: str, *, adding: bool = False) -> str:
    """Credentials a firm's service refused, in words: how to enter them again."""
    from pmtools.analysis.messages import api_reason

    system = {"liscio": "Liscio", "ipm": "IPM"}.get(exc.side, "A service")
    why = f"{exc.status}: {api_reason(str(exc))}" if exc.status else api_reason(str(exc))
    if adding:
        return (
            f"{system} refused the keys given for {firm_name!r} ({why}), so nothing was "
            f"registered — check them and run `pmtools firm add {_quote(firm_name)}` again"
        )
    return (
        f"{system} refused the keys of the firm {firm_name!r} ({why}); enter them again with "
        f"`pmtools firm add {_quote(firm_name)} --update`"
    )


def mismatch_text(exc: TenantMismatch, firm_name: str) -> str:
    """The tenant guard's refusal for a registered firm: its own commands fix it."""
    from pmtools.core.records import Side

    sides = (Side.LISCIO, Side.IPM)
    was = " and ".join(str(exc.recorded[s]) for s in sides if s in exc.recorded)
    now = " and ".join(
        str(exc.found[s])
        for s in sides
        if s in exc.found and (s not in exc.recorded or exc.recorded[s].id != exc.found[s].id)
    )
    q = _quote(firm_name)
    return (
        f"the state of the firm {firm_name!r} belongs to {was}, but its settings now reach "
        f"{now}; nothing was read or written — check them with `pmtools firm show {q}` and "
        f"enter the right ones with `pmtools firm add {q} --update`, or start the firm over "
        f"with `pmtools --firm {q} disconnect --yes`"
    )


def _taken_by(registry: Any, slug: str | None, liscio: Any, ipm: Any) -> str | None:
    """The name of another registered firm already bound to either identity, if any."""
    for other in registry.list_firms():
        if other.slug == slug:
            continue
        if other.ipm_identity == str(ipm) or other.liscio_identity == str(liscio):
            return str(other.name)
    return None


# -- commands --------------------------------------------------------------------------------
def cmd_add(args: argparse.Namespace) -> int:
    """``pmtools firm add NAME``."""
    from pmtools.store.backend import backend_from_env
    from pmtools.store.firms import ENVIRONMENT, context_for, firm_settings
    from pmtools.store.registry import FirmExists, FirmUnknown, check_firm_name, name_key
    from pmtools.store.secrets import forget_secrets, secret_store

    name = check_firm_name(args.name)
    if name_key(name) == ENVIRONMENT:  # `--firm environment` is the environment firm
        raise ConfigError(
            f"{name!r} is reserved for the firm configured by the environment; choose another name"
        )
    backend = backend_from_env()
    with backend.registry() as registry:
        try:
            existing = registry.get_firm(name)
        except FirmUnknown:
            existing = None
        if existing is not None and not args.update:
            raise FirmExists(
                f"a firm named {existing.name!r} is registered already; enter its keys again "
                f"with `pmtools firm add {_quote(existing.name)} --update`"
            )
        if existing is None and args.update:
            registry.get_firm(name)  # FirmUnknown, naming the registered firms
        ipm_url = _value(
            args.ipm_url,
            "PMTOOLS_IPM_URL",
            "IPM API URL",
            default=existing.ipm_url if existing and existing.ipm_url else KARBON_URL,
        )
        liscio_url = _value(
            args.liscio_url,
            "PMTOOLS_LISCIO_URL",
            "Liscio API URL",
            default=existing.liscio_url if existing else None,
        )
        rate = args.rate_limit
        if rate is None:
            rate = existing.ipm_rate_limit if existing else 120
        keys = _secrets()
        candidate = firm_settings(
            liscio_url=liscio_url, ipm_url=ipm_url, ipm_rate_limit=rate, **keys.as_dict()
        )
        if existing is not None:
            # New keys must reach the tenant the firm's state belongs to (the tenant guard)
            # before they replace the old ones.
            with backend.open_store(existing.slug) as store:
                liscio_id, ipm_id = _identities(candidate, existing.name, store=store)
            other = _taken_by(registry, existing.slug, liscio_id, ipm_id)
            if other is not None:
                raise ConfigError(_taken_text(liscio_id, ipm_id, other, done="nothing changed"))
            secret_store(backend.home).put(existing.slug, keys)
            firm = registry.update_firm(
                existing.slug,
                ipm_url=ipm_url,
                liscio_url=liscio_url,
                ipm_rate_limit=rate,
                ipm_identity=str(ipm_id),
                liscio_identity=str(liscio_id),
            )
            _bind(backend, firm.slug, liscio_id, ipm_id)
            print(for_terminal(f"updated {firm.name}: {liscio_id} and {ipm_id}"))
            return 0
        # A new firm: check the keys before anything is registered or stored.
        liscio_id, ipm_id = _identities(candidate, name, adding=True)
        other = _taken_by(registry, None, liscio_id, ipm_id)
        if other is not None:
            raise ConfigError(_taken_text(liscio_id, ipm_id, other, done="nothing was registered"))
        firm = registry.add_firm(name, ipm_url=ipm_url, liscio_url=liscio_url, ipm_rate_limit=rate)
        try:
            secret_store(backend.home).put(firm.slug, keys)
            # A state kept from an earlier registration must belong to the same firm.
            with context_for(firm, backend=backend).open_store() as store:
                _identities(candidate, name, store=store)
            _bind(backend, firm.slug, liscio_id, ipm_id)
            firm = registry.update_firm(
                firm.slug, ipm_identity=str(ipm_id), liscio_identity=str(liscio_id)
            )
        except BaseException:
            forget_secrets(backend.home, firm.slug)
            registry.remove_firm(firm.slug)
            raise
        where = secret_store(backend.home).where()
    print(for_terminal(f"added {firm.name}: {liscio_id} and {ipm_id}; its keys are {where}"))
    # a first sync can take hours at Karbon's rate limit: the forecast says how long, first
    print(
        for_terminal(
            f"before its first sync, see what it will do and how long it takes with "
            f"`pmtools --firm {_quote(firm.name)} sync --forecast`"
        )
    )
    return 0


def _taken_text(liscio: Any, ipm: Any, other: str, *, done: str) -> str:
    return (
        f"{ipm} or {liscio} is registered already as the firm {other!r} (two registrations "
        f"of one firm would create its records twice); {done} — use {other!r}"
    )


def _bind(backend: Any, slug: str, liscio: Any, ipm: Any) -> None:
    """Record in the firm's state which tenant and firm it belongs to (none recorded yet)."""
    with backend.open_store(slug) as store:
        if not store.identities():
            store.record_identities(liscio=liscio, ipm=ipm)


def cmd_remove(args: argparse.Namespace) -> int:
    """``pmtools firm remove NAME``."""
    from pmtools.store.backend import backend_from_env
    from pmtools.store.registry import JobRunning
    from pmtools.store.secrets import forget_secrets

    backend = backend_from_env()
    with backend.registry() as registry:
        firm = registry.get_firm(args.name)
        state = firm_views.state_words(backend, firm.slug)
        if args.delete_state and backend.kind != "sqlite":
            raise ConfigError(
                "--delete-state deletes SQLite state files only; on PostgreSQL keep the firm's "
                "schema or drop it yourself after a backup (docs/deploy.md)"
            )
        kept = "and delete its state file" if args.delete_state else f"(its state stays in {state})"
        if not args.yes:
            answer = _ask(f"Forget the firm {firm.name!r} and its keys {kept}? [y/N]")
            if not answer and not sys.stdin.isatty():
                raise ConfigError(
                    f"nothing was removed: no one was there to ask, so confirm with "
                    f"`pmtools firm remove {_quote(firm.name)} --yes`"
                )
            if answer.lower() not in ("y", "yes"):
                print(for_terminal(f"kept {firm.name}; nothing changed"))
                return 0
        try:
            registry.remove_firm(firm.slug)
        except JobRunning as exc:  # exit 4, as for a sync refused by the firm's job
            job = exc.job
            raise LockHeld(
                f"{firm.name} has {job.kind_words} {job.state} (started by "
                f"{job.started_by or 'someone'}), so nothing was removed; wait for it or cancel "
                f"it with `pmtools jobs cancel --firm {_quote(firm.name)}`, then remove the firm"
            ) from None
    forget_secrets(backend.home, firm.slug)
    if args.delete_state:
        shutil.rmtree(backend.store_path(firm.slug).parent, ignore_errors=True)
        print(for_terminal(f"removed {firm.name}, its keys and its state"))
    else:
        print(for_terminal(f"removed {firm.name} and its keys; its state stays in {state}"))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """``pmtools firm test NAME``: exit 0 when both services answer and are the firm's own."""
    from pmtools.store.firms import resolve

    firm = resolve(args.name, state=None)
    with firm.open_store() as store:
        # AuthError and TenantMismatch exit 2, an unreachable service 5 (pmtools.cli.main)
        liscio_id, ipm_id = _identities(firm.settings, firm.name, store=store)
    if firm.backend is not None and firm.firm is not None and not firm.firm.ipm_identity:
        with firm.backend.registry() as registry:
            registry.update_firm(
                firm.slug, ipm_identity=str(ipm_id), liscio_identity=str(liscio_id)
            )
    print(for_terminal(f"{firm.name}: {ipm_id} and {liscio_id} answer, and its state is theirs"))
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """``pmtools firm schedule NAME --every 60m|off``."""
    from pmtools.store.backend import backend_from_env

    with backend_from_env().registry() as registry:
        firm = registry.get_firm(args.name)
        firm = registry.update_firm(firm.slug, schedule_minutes=args.every)
    if firm.schedule_minutes:
        print(
            for_terminal(
                f"{firm.name} syncs every {firm_views.minutes(firm.schedule_minutes)} while a "
                "worker runs (`pmtools app` or `pmtools worker`)"
            )
        )
    else:
        print(for_terminal(f"{firm.name} has no schedule any more"))
    return 0
