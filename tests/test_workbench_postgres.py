"""The workbench of a registered firm whose state is on PostgreSQL (``PMTOOLS_DATABASE_URL``):
the page says where the state is — the firm's schema, never the password nor a state file that
does not exist."""

from __future__ import annotations

import uuid

from pmtools.sandbox.server import start_sandbox
from pmtools.store.backend import backend_from_env
from pmtools.workbench import Workbench
from pmtools.workbench.session import open_firm_session

WAIT = 300  # seconds: only stops a hang


def test_a_firm_on_postgresql_in_the_workbench(postgres_url, monkeypatch):
    monkeypatch.setenv("PMTOOLS_DATABASE_URL", postgres_url)
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "0")
    backend = backend_from_env()
    with start_sandbox(dataset="demo", seed=1, rate_limit=0) as server:
        with backend.registry() as registry:
            firm = registry.add_firm(
                f"Page {uuid.uuid4().hex[:6]} CPA",
                ipm_url=server.ipm_url,
                liscio_url=server.liscio_url,
                simulator=True,
            )
        session = open_firm_session(firm.slug)
        try:
            app = Workbench(session)
            shown = app.connection.info.value
            password = postgres_url.split(":")[2].split("@")[0]
            assert "schema firm_" in shown and "PostgreSQL database pmtools" in shown
            assert password not in shown and "state.sqlite" not in shown
            assert session.store.dialect == "postgresql" and session.store.runs() == []
        finally:
            session.close()
