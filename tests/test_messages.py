"""Record errors for people: names, what went wrong, what to do — no ids, URLs or codes."""

import re

from fakes import FakeLiscio, small_firm

from pmtools.analysis.messages import record_error_text
from pmtools.core.plan import SyncPolicy
from pmtools.core.records import Kind, Side
from pmtools.engine.sync import run_sync
from pmtools.errors import RecordError
from pmtools.store import Store

C, A = Kind.CONTACTS, Kind.ACCOUNTS
TECHNICAL = re.compile(r"https?://|PATCH|POST|→|\b4\d\d\b|con_\d+|vDy3")


def test_an_email_in_use_names_both_contacts_and_says_how_to_resolve():
    text = record_error_text(
        "Liscio PATCH http://127.0.0.1:8800/liscio/v1/contacts/con_015024 → 400 "
        "[email_in_use]: primary_email is already used by con_000007",
        code="email_in_use",
        kind=C,
        op="write",
        side=Side.LISCIO,
        liscio_name="Ann Lee",
        ipm_name="Lee, Ann",
        values={"email": "ann@acme.example"},
        names={(Side.LISCIO, C, "con_000007"): "Bob Stone"},
    )
    assert text == (
        "Could not write the email ann@acme.example to Liscio contact 'Ann Lee' (linked with "
        "IPM person 'Lee, Ann'): it is already used by Liscio contact 'Bob Stone'. Decide "
        "which of the two it belongs to, give the other one its own email (in Liscio, or in "
        "IPM if IPM's is wrong), then run Sync Now again."
    )


def test_any_other_rejection_keeps_the_services_reason_without_the_request():
    text = record_error_text(
        "IPM PUT http://127.0.0.1:8800/karbon/v3/BusinessCards/vDy3abc → 400 [4003]: "
        "PhoneNumber is not valid",
        code="4003",
        kind=A,
        op="write",
        side=Side.IPM,
        liscio_name="Acme LLC",
        ipm_name="ACME LLC",
        values={"phone": "555"},
    )
    assert text.startswith(
        "Could not write IPM organization 'ACME LLC' (linked with Liscio "
        "account 'Acme LLC') (phone): PhoneNumber is not valid."
    )
    assert "run Sync Now again" in text and not TECHNICAL.search(text)


class EmailCheckingLiscio(FakeLiscio):
    """Liscio refusing a contact email another contact already has, as the real one does."""

    def update_fields(self, kind, record_id, values):
        email = (values.get("email") or "").casefold()
        for other in self.records[kind].values():
            if email and other.id != record_id and (other.email or "").casefold() == email:
                raise RecordError(
                    f"Liscio PATCH http://x/liscio/v1/contacts/{record_id} → 400 "
                    f"[email_in_use]: primary_email is already used by "
                    f"{other.id}",
                    side="liscio",
                    status=400,
                    code="email_in_use",
                )
        return super().update_fields(kind, record_id, values)


def test_a_sync_error_names_records_by_name(tmp_path):
    _liscio, ipm = small_firm()
    liscio = EmailCheckingLiscio()
    for kind, recs in _liscio.records.items():
        liscio.records[kind] = dict(recs)
    liscio.add(C, "Cara Dunn", email="ann@acme.example")  # has the email IPM gives Ann Lee
    with Store.open(tmp_path / "s.sqlite") as store:
        result = run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy(force=True))
        assert result.outcome == "done_with_errors"
        (error,) = result.errors
        assert "Liscio contact 'Ann Lee'" in error and "Liscio contact 'Cara Dunn'" in error
        assert "ann@acme.example" in error and not TECHNICAL.search(error)
        assert store.errors(run_id=result.run_id)[0]["message"] == error
