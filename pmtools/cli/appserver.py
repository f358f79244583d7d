"""What the Voilà server behind ``pmtools app`` accepts: which hosts, and how many kernels.

Two holes a hostile web page could use (issue 8 §2), closed here:

* **DNS rebinding.** Voilà answers every ``Host`` (it sets ``allow_remote_access``), and
  jupyter_server lets a websocket through when its ``Origin`` matches that ``Host`` — so a page
  on ``attacker.example`` rebound to 127.0.0.1 could read and drive the workbench. jupyter_server
  already has the check (``allow_remote_access=False`` accepts loopback addresses and the names
  in ``local_hostnames``, else 403, before any handler runs); :func:`voila_config` switches it
  back on through Voilà's ``tornado_settings``. Cross-origin websockets are already refused by
  jupyter_server's ``check_origin`` (403) as long as ``allow_origin`` stays unset.
* **A kernel per GET.** Every GET of ``/`` starts a kernel (about 115 MB each).
  :class:`pmtools.cli.kernels.BoundedKernelManager` caps the live kernels: the oldest idle one
  (no browser attached, not running anything) is shut down to make room, and when none is idle
  the page says so in one sentence (503). jupyter_server culls idle kernels after a timeout but
  has no cap, hence that small subclass.

Only configuration here (every ``pmtools`` command imports it); the kernel manager, which needs
jupyter_server, is in :mod:`pmtools.cli.kernels`, imported by the Voilà process alone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

from pmtools.errors import ConfigError

HOSTS_ENV = "PMTOOLS_APP_HOSTS"
MAX_KERNELS_ENV = "PMTOOLS_APP_MAX_KERNELS"
DEFAULT_MAX_KERNELS = 4
LOCAL_HOSTNAMES = ("localhost",)  # loopback addresses (127.0.0.1, ::1) are always accepted

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def parse_hosts(values: Iterable[str]) -> tuple[str, ...]:
    """Host names from flags or ``PMTOOLS_APP_HOSTS`` (comma-separated), checked and lowercased.

    Only names: jupyter_server accepts an IP address in ``Host`` only when it is a loopback one,
    and a team server is reached through its authenticating proxy's name, never its address.
    """
    hosts: list[str] = []
    for value in values:
        for raw in value.split(","):
            name = raw.strip().lower().rstrip(".")
            if not name:
                continue
            if is_address(name) or not _HOSTNAME.match(name):
                raise ConfigError(
                    f"{raw.strip()!r} is not a host name the app can accept: give the name "
                    f"people type in their browser (like pm.example.com), without a port, "
                    f"scheme or address"
                )
            if name not in hosts:
                hosts.append(name)
    return tuple(hosts)


def is_address(name: str) -> bool:
    """True when ``name`` is an IP address (v4, v6, bracketed or not), not a host name."""
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def parse_max_kernels(value: str | int | None, *, source: str) -> int:
    """A kernel bound of at least 1 from a flag or the environment (``None``: the default)."""
    if value is None or value == "":
        return DEFAULT_MAX_KERNELS
    try:
        bound = int(value)
    except (TypeError, ValueError):
        bound = 0
    if bound < 1:
        raise ConfigError(
            f"{source} must be a whole number of browser tabs, 1 or more, not {value!r}"
        )
    return bound


def app_limits(
    *, flag_hosts: Iterable[str], flag_max: int | None, environ: Mapping[str, str]
) -> tuple[tuple[str, ...], int]:
    """The accepted host names and the kernel bound: flags, then the environment, then defaults."""
    hosts = parse_hosts([*flag_hosts, environ.get(HOSTS_ENV, "")])
    if flag_max is not None:
        bound = parse_max_kernels(flag_max, source="--max-kernels")
    else:
        bound = parse_max_kernels(
            environ.get(MAX_KERNELS_ENV, "").strip() or None, source=MAX_KERNELS_ENV
        )
    return hosts, bound


def voila_config(*, hosts: Iterable[str], max_kernels: int) -> dict:
    """Voilà's configuration (its ``voila.json``): host check on, kernels bounded."""
    return {
        "Voila": {
            "tornado_settings": {
                "allow_remote_access": False,  # Voilà sets True; this restores the Host check
                "local_hostnames": [
                    *LOCAL_HOSTNAMES,
                    *(h for h in hosts if h not in LOCAL_HOSTNAMES),
                ],
            }
        },
        "VoilaConfiguration": {
            "multi_kernel_manager_class": "pmtools.cli.kernels.BoundedKernelManager",
        },
        "BoundedKernelManager": {"max_kernels": max_kernels},
    }
