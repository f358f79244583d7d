"""``pmtools sandbox``: run the bundled simulator of IPM (Karbon v3) and Liscio."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from types import FrameType

from pmtools.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``pmtools sandbox``."""
    parser = subparsers.add_parser(
        "sandbox",
        help="run the local simulator of IPM and Liscio",
        description="Serve Karbon API v3 under /karbon and the Liscio contract under /liscio "
        "on one port. Credentials: PMTOOLS_LISCIO_TOKEN, PMTOOLS_IPM_TOKEN and "
        "PMTOOLS_IPM_ACCESS_KEY, or the documented sandbox defaults when unset.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    parser.add_argument(
        "--dataset",
        default="demo",
        help="demo, small (a tenth of demo), empty, or a JSON dataset file (default demo)",
    )
    parser.add_argument(
        "--firms",
        type=int,
        default=1,
        metavar="N",
        help="serve N firms, firm i under /firms/<i>/karbon and /firms/<i>/liscio, each with "
        "its own records (seed + i), identity and rate limit, built on its first request "
        "(default 1)",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the demo dataset, keys and faults (default 1)"
    )
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="multiply the demo dataset (default 1: ~300 orgs, 900 people)",
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=120,
        metavar="N",
        help="IPM requests a minute per firm and credentials (default 120; 0 = off)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        metavar="N",
        help="delay every request by N milliseconds",
    )
    parser.add_argument(
        "--faults",
        metavar="SPEC",
        help="e.g. 500=0.05,429=0.05,409=0.01,timeout=0.01,drop-after-commit=0.02",
    )
    parser.add_argument(
        "--hang-seconds",
        type=float,
        default=35.0,
        help="how long a 'timeout' fault hangs before dropping (default 35, "
        "longer than the usual 30 s client timeout)",
    )
    parser.add_argument(
        "--karbon-variant",
        metavar="NAMES",
        default=None,
        help="play undocumented Karbon behaviours the other way: "
        "card-edit-keeps-time, next-link-on-last-page, bare-404, "
        "unknown-key-refused "
        "(comma-separated; see docs/sandbox.md)",
    )
    parser.add_argument(
        "--register",
        action="store_true",
        help="register the simulated firms ('Simulated firm 0' …) in the firm registry, or "
        "refresh their URLs, so that the app's portfolio and `--firm` reach them",
    )
    parser.add_argument(
        "--db", metavar="PATH", help="SQLite file to persist to across restarts (default: memory)"
    )
    parser.set_defaults(func=run)


SIMULATED_NAME = "Simulated firm {}"
SHOWN_FIRMS = 3  # the firms whose URLs are printed; the rest follow the pattern


def firms_lines(url: str, count: int) -> str:
    """The URLs of the first firms and how the others' are formed."""
    lines = [
        f"firm {i}: IPM {url}/firms/{i}/karbon, Liscio {url}/firms/{i}/liscio"
        for i in range(1, min(count, SHOWN_FIRMS + 1))
    ]
    lines.append(
        f"firms 0 to {count - 1}: IPM {url}/firms/<i>/karbon, Liscio {url}/firms/<i>/liscio "
        "(firm 0 also at the URLs above); each firm's records are made on its first request"
    )
    return "\n".join(lines)


def credentials_line() -> str:
    """The keys the simulator accepts, for `pmtools firm add`: its documented ones (not
    secrets) in full; credentials of the environment's own are named, never shown."""
    from pmtools.config import SANDBOX_IPM_ACCESS_KEY, SANDBOX_IPM_TOKEN, SANDBOX_LISCIO_TOKEN
    from pmtools.sandbox.app import Credentials

    if Credentials.from_env() != Credentials():
        return (
            "credentials: those of PMTOOLS_IPM_TOKEN, PMTOOLS_IPM_ACCESS_KEY and "
            "PMTOOLS_LISCIO_TOKEN in this environment (every firm)"
        )
    return (
        f"credentials (every firm; the simulator's documented ones, not secrets): IPM "
        f"application id {SANDBOX_IPM_TOKEN}, IPM access key {SANDBOX_IPM_ACCESS_KEY}, "
        f"Liscio token {SANDBOX_LISCIO_TOKEN}"
    )


def register_firms(urls: Callable[[int], tuple[str, str]], count: int, *, rate_limit: int) -> int:
    """Register firms 0 to ``count - 1`` as simulated firms (the simulator's documented
    credentials, so no secrets), or refresh the URLs of those registered before."""
    from pmtools.sandbox.app import Credentials
    from pmtools.store.backend import backend_from_env
    from pmtools.store.registry import FirmUnknown

    if Credentials.from_env() != Credentials():
        raise ConfigError(
            "--register records simulated firms with the simulator's documented credentials; "
            "unset PMTOOLS_IPM_TOKEN, PMTOOLS_IPM_ACCESS_KEY and PMTOOLS_LISCIO_TOKEN, or "
            "add the firms with `pmtools firm add`"
        )
    with backend_from_env().registry() as registry:
        for i in range(count):
            ipm_url, liscio_url = urls(i)
            name = SIMULATED_NAME.format(i)
            try:
                firm = registry.get_firm(name)
            except FirmUnknown:
                registry.add_firm(
                    name,
                    ipm_url=ipm_url,
                    liscio_url=liscio_url,
                    ipm_rate_limit=rate_limit,
                    simulator=True,
                )
                continue
            if not firm.simulator:
                raise ConfigError(
                    f"a firm named {name!r} is registered and is not simulated; rename or "
                    "remove it before --register"
                )
            registry.update_firm(
                firm.slug, ipm_url=ipm_url, liscio_url=liscio_url, ipm_rate_limit=rate_limit
            )
    return count


def run(args: argparse.Namespace) -> int:
    """Start the simulator, print its URL line, serve until interrupted."""
    from pmtools.sandbox.server import start_sandbox

    for name in ("scale", "rate_limit", "latency_ms", "port"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')} must not be negative")
    if args.firms < 1:
        raise ConfigError("--firms must be at least 1")
    try:
        server = start_sandbox(
            dataset=args.dataset,
            seed=args.seed,
            scale=args.scale,
            rate_limit=args.rate_limit,
            latency_ms=args.latency_ms,
            faults=args.faults,
            db=args.db,
            host=args.host,
            port=args.port,
            hang_seconds=args.hang_seconds,
            variants=args.karbon_variant,
            firms=args.firms,
        )
    except (ValueError, OSError) as exc:
        raise ConfigError(f"sandbox: {exc}") from exc

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(
        f"pmtools sandbox listening on {server.url} "
        f"(IPM: {server.ipm_url}, Liscio: {server.liscio_url})",
        flush=True,
    )
    if args.firms > 1:
        print(firms_lines(server.url, args.firms), flush=True)
    print(credentials_line(), flush=True)
    try:
        if args.register:
            last = register_firms(server.firm_urls, args.firms, rate_limit=args.rate_limit) - 1
            names = SIMULATED_NAME.format(0) + (f" to {last}" if last else "")
            print(f"registered as firms: {names} (--firm NAME, or the app)", flush=True)
        while server.is_running():
            server.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("pmtools sandbox stopped", file=sys.stderr, flush=True)
    return 0
