"""Where Karbon's documentation is silent, pmtools stays correct whichever way Karbon behaves.

Each assumption is played the other way by the simulator (``--karbon-variant``, see
docs/sandbox.md) and the real client (IPM connector, Sync Now) is run against it over loopback.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pmtools import config
from pmtools.connectors.http import RetryPolicy
from pmtools.connectors.karbon import IpmConnector
from pmtools.connectors.liscio import LiscioConnector
from pmtools.core.plan import LinkStatus, SyncPolicy
from pmtools.core.records import Kind
from pmtools.engine.sync import run_sync
from pmtools.errors import AuthError, NotFound, RecordError, ServiceError
from pmtools.sandbox.dataset import demo_dataset
from pmtools.sandbox.server import start_sandbox
from pmtools.sandbox.variants import KarbonVariants
from pmtools.store import Store

A, C = Kind.ACCOUNTS, Kind.CONTACTS
HEADERS = {
    "Authorization": f"Bearer {config.SANDBOX_IPM_TOKEN}",
    "AccessKey": config.SANDBOX_IPM_ACCESS_KEY,
}


def ipm_for(server) -> IpmConnector:
    return IpmConnector(
        server.ipm_url,
        config.SANDBOX_IPM_TOKEN,
        config.SANDBOX_IPM_ACCESS_KEY,
        rate_limit=0,
        timeout=10,
    )


def liscio_for(server) -> LiscioConnector:
    return LiscioConnector(server.liscio_url, config.SANDBOX_LISCIO_TOKEN, timeout=10)


def test_variant_names_parse_and_unknown_ones_are_refused() -> None:
    both = KarbonVariants.parse("bare-404, card-edit-keeps-time")
    assert both == KarbonVariants(bare_404=True, card_edit_keeps_time=True)
    assert str(both) == "card-edit-keeps-time,bare-404"
    assert KarbonVariants.parse(None) == KarbonVariants.parse("") == KarbonVariants()
    with pytest.raises(ValueError, match="unknown Karbon variant 'sloppy'"):
        KarbonVariants.parse("sloppy")


def test_a_card_edit_that_keeps_the_owner_time_is_caught_by_the_daily_full_pull(tmp_path):
    """Incremental pulls assume a card edit moves its owner's LastModifiedDateTime. If it does
    not, the full pull made at least every FULL_PULL_EVERY still sees the edit, and the seed's
    rule (Liscio's value overwrites IPM's) is applied then."""
    small = demo_dataset(seed=4, organizations=12, people=20)
    with (
        start_sandbox(dataset=small, rate_limit=0, variants="card-edit-keeps-time") as server,
        Store.open(tmp_path / "state.sqlite") as store,
    ):
        liscio, ipm = liscio_for(server), ipm_for(server)

        def sync() -> dict[str, int]:
            result = run_sync(liscio=liscio, ipm=ipm, store=store, policy=SyncPolicy())
            assert result.outcome == "done", result.errors
            return result.counts

        writes = (
            "linked",
            "created_in_ipm",
            "created_in_liscio",
            "ipm_fields_written",
            "liscio_fields_filled",
        )
        sync()
        # pmtools' own card writes do not move the owners' time either: the next Sync Now
        # must still know what it wrote, and write nothing
        assert not any(sync()[k] for k in writes)
        # The records were written a moment ago, inside the incremental pull's overlap; in real
        # life the edit comes later than that. Move the pulls' mark on an hour to say so.
        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for kind in Kind:
            store.set_high_water(kind, later)
        link, phone = next(
            (link, liscio.get_record(A, link.liscio_id).phone)
            for link in store.links(A)
            if link.status is LinkStatus.LINKED and liscio.get_record(A, link.liscio_id).phone
        )
        key = link.ipm_key
        assert server.state.cards_of(key)[0]["PhoneNumbers"][0]["Number"] == phone
        # someone changes the phone in IPM; with this variant the owner's time stays put
        stamp = server.state.get("organizations", key)["LastModifiedDateTime"]
        http = httpx.Client(base_url=server.ipm_url, headers=HEADERS, timeout=10)
        card = http.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()[
            "BusinessCards"
        ][0]
        card["PhoneNumbers"][0]["Number"] = "555-0199"
        assert (
            http.put(f"/v3/BusinessCards/{card['BusinessCardKey']}", json=card).status_code == 204
        )
        assert server.state.get("organizations", key)["LastModifiedDateTime"] == stamp

        sync()  # incremental: the edit is invisible to it
        assert server.state.cards_of(key)[0]["PhoneNumbers"][0]["Number"] == "555-0199"
        for kind in Kind:  # a day goes by
            store.set_full_pull(kind, "2000-01-01T00:00:00Z")
        sync()
        assert server.state.cards_of(key)[0]["PhoneNumbers"][0]["Number"] == phone


def test_a_next_link_on_the_last_page_to_an_empty_page_ends_the_listing(tmp_path) -> None:
    small = demo_dataset(seed=4, organizations=150, people=20)
    with start_sandbox(dataset=small, rate_limit=0, variants="next-link-on-last-page") as server:
        http = httpx.Client(base_url=server.ipm_url, headers=HEADERS, timeout=10)
        last = http.get("/v3/Organizations", params={"$skip": 100, "$top": 100}).json()
        assert last["value"] and "@odata.nextLink" in last  # the variant is on
        empty = http.get(last["@odata.nextLink"]).json()
        assert empty["value"] == [] and "@odata.nextLink" not in empty
        ipm = ipm_for(server)
        rows = list(ipm.iter_records(A))
        assert len(rows) == len({r.id for r in rows}) == server.state.count("organizations")
        assert ipm.stats().count(kind="list") == 3  # two pages and the empty one
        newest = list(ipm.iter_records(A, modified_since="2000-01-01T00:00:00Z"))
        assert {r.id for r in newest} == {r.id for r in rows}


def test_a_bare_404_is_still_not_found(tmp_path) -> None:
    """Karbon's Postman examples answer a look-up that finds nothing with 404 and an empty
    text/plain body: the client reads "not found" from the status alone."""
    small = demo_dataset(seed=4, organizations=5, people=5)
    with start_sandbox(dataset=small, rate_limit=0, variants="bare-404") as server:
        raw = httpx.get(f"{server.ipm_url}/v3/Organizations/nope", headers=HEADERS)
        assert (raw.status_code, raw.content) == (404, b"")
        assert raw.headers["content-type"].startswith("text/plain")
        ipm = ipm_for(server)
        assert ipm.find_by_external_id(A, "never-created") is None
        with pytest.raises(NotFound):
            ipm.get_record(C, "nope")
        rows = list(ipm.iter_records(A))
        gone = dataclasses.replace(rows[0], id="gone-key")  # deleted in IPM's web app
        loaded = ipm.load_details(A, [gone, *rows[1:]])
        assert loaded[0] is gone and all(r.details_complete for r in loaded[1:])


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error"),
    [
        (401, "text/html", b"<h1>Unauthorized</h1>", AuthError),
        (401, "application/json", b'{"Message": "Authorization has been denied."}', AuthError),
        (
            403,
            "application/json",
            b'{"error": {"statusCode": "403", "message": "Forbidden"}}',
            AuthError,
        ),
        (404, "text/plain", b"", NotFound),
        (502, "text/html", b"<html>Bad Gateway</html>", ServiceError),
        (
            503,
            "application/json",
            b'{"statusCode": "503", "message": "Service Unavailable"}',
            ServiceError,
        ),
    ],
)
def test_error_replies_are_classified_by_status_whatever_their_body(
    status, content_type, body, error
) -> None:
    """401/403/404/5xx bodies are not documented: the client reads the status, and a message
    from any body shape it knows, else the reason phrase — never a traceback."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    ipm = IpmConnector(
        "https://ipm.invalid/karbon",
        "token",
        "key",
        rate_limit=0,
        transport=httpx.MockTransport(answer),
        sleep=lambda s: None,
        retry=RetryPolicy(attempts=2, backoff=0, jitter=0),
    )
    with pytest.raises(error) as caught:
        ipm.get_record(A, "ABC")
    message = str(caught.value)
    assert str(status) in message and "<html>" not in message and "Traceback" not in message


def test_the_cli_refuses_an_unknown_variant_in_one_sentence(capsys) -> None:
    from pmtools.cli import main

    assert main(["sandbox", "--karbon-variant", "sloppy", "--port", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("pmtools: sandbox: unknown Karbon variant 'sloppy'")
    assert "\n" not in error and "Traceback" not in error


def test_a_stale_card_write_refused_for_an_unknown_key_is_one_record_error(tmp_path) -> None:
    """pmtools reuses a card read for up to two minutes: an address deleted in IPM meanwhile is
    still in that read. Were Karbon to refuse its key, the write is a record error (nothing
    written), and the next write reads the card afresh and does not bring the address back."""
    with start_sandbox(dataset="empty", rate_limit=0, variants="unknown-key-refused") as server:
        http = httpx.Client(base_url=server.ipm_url, headers=HEADERS, timeout=10)
        card = {
            "IsPrimaryCard": True,
            "PhoneNumbers": [{"Number": "512-555-0100", "Label": "Work"}],
            "Addresses": [
                {"AddressLines": "1 Main St", "City": "Austin", "Label": "Physical"},
                {"AddressLines": "PO Box 7", "City": "Austin", "Label": "Mailing"},
            ],
        }
        key = http.post(
            "/v3/Organizations", json={"FullName": "Two Addresses LLC", "BusinessCards": [card]}
        ).json()["OrganizationKey"]
        ipm = ipm_for(server)
        (row,) = list(ipm.iter_records(A))
        ipm.load_details(A, [row])  # the card is read, and kept for the next write
        card = http.get(f"/v3/Organizations/{key}", params={"$expand": "BusinessCards"}).json()[
            "BusinessCards"
        ][0]
        card["Addresses"] = card["Addresses"][:1]  # someone deletes the mailing address in IPM
        assert (
            http.put(f"/v3/BusinessCards/{card['BusinessCardKey']}", json=card).status_code == 204
        )
        with pytest.raises(RecordError) as refused:
            ipm.update_fields(A, key, {"phone": "512-555-0199"})
        assert refused.value.status == 400 and "\n" not in str(refused.value)
        stored = server.state.cards_of(key)[0]
        assert [a["Label"] for a in stored["Addresses"]] == ["Physical"]
        assert stored["PhoneNumbers"][0]["Number"] == "512-555-0100"
        ipm.update_fields(A, key, {"phone": "512-555-0199"})  # the next write reads afresh
        stored = server.state.cards_of(key)[0]
        assert [a["Label"] for a in stored["Addresses"]] == ["Physical"]
        assert stored["PhoneNumbers"][0]["Number"] == "512-555-0199"
