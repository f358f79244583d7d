"""A kernel manager for ``pmtools app``'s Voilà with a bound on live kernels.

Every GET of the workbench page starts a kernel (about 115 MB), so a page that loads it in a
loop — or a busy team — could exhaust the machine. jupyter_server culls idle kernels after a
timeout but has no bound; this subclass adds one, configured by :mod:`pmtools.cli.appserver`.
Imported only by the Voilà process (it needs jupyter_server).
"""

from __future__ import annotations

import asyncio

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado import web
from traitlets import Integer

from pmtools.cli.appserver import DEFAULT_MAX_KERNELS

# Shown as the page (Voilà's error page, status 503) when every kernel is in use.
FULL_MESSAGE = (
    "The workbench is open in as many browser tabs as it serves at once; "
    "close a workbench tab you no longer use, then reload this page."
)


class BoundedKernelManager(AsyncMappingKernelManager):
    """Jupyter's kernel manager with a bound on live kernels, culling the oldest idle first."""

    max_kernels = Integer(
        DEFAULT_MAX_KERNELS,
        config=True,
        help="Most kernels alive at once (one per open workbench page).",
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        # One start at a time: two GETs checking the count together would both see room.
        self._bound_lock = asyncio.Lock()

    async def start_kernel(self, *, kernel_id: str | None = None, **kwargs: object) -> str:
        """Start a kernel once there is room, shutting down the oldest idle one if needed."""
        if kernel_id is not None and kernel_id in self:
            return await super().start_kernel(kernel_id=kernel_id, **kwargs)
        async with self._bound_lock:
            while len(self.list_kernel_ids()) >= self.max_kernels:
                victim = self.oldest_idle_kernel()
                if victim is None:
                    self.log.warning("Kernel bound of %d reached; none idle", self.max_kernels)
                    raise web.HTTPError(503, reason=FULL_MESSAGE)
                self.log.info(
                    "Kernel bound of %d reached: shutting down idle kernel %s",
                    self.max_kernels,
                    victim,
                )
                await self.shutdown_kernel(victim)
            return await super().start_kernel(kernel_id=kernel_id, **kwargs)

    def oldest_idle_kernel(self) -> str | None:
        """The kernel idle longest with no browser attached, or None when every one is in use."""
        idle = []
        for kid in self.list_kernel_ids():
            kernel = self.get_kernel(kid)
            busy = getattr(kernel, "execution_state", "") in ("busy", "starting")
            if self._kernel_connections.get(kid, 0) == 0 and not busy:
                idle.append((kernel.last_activity, kid))
        return min(idle)[1] if idle else None
