"""The bundled simulator of IPM (Karbon API v3) and Liscio: ``pmtools sandbox``.

Start it in-process with :func:`pmtools.sandbox.server.start_sandbox`; see the modules:
``state`` (the data), ``karbon`` and ``liscio`` (the routes), ``faults`` (credentials, rate
limit, latency, injected faults), ``dataset`` (the demo firm), ``app`` and ``server``.
Nothing is imported here, so importing ``pmtools.sandbox`` stays cheap.
"""
