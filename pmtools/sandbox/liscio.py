"""Liscio routes of the simulator (mounted under ``/liscio``), serving ``docs/liscio-api.yaml``.

The firm (``GET /v1/firm``: its id and name, what tells one Liscio firm from another).
Accounts and contacts: cursor-paged lists (by id) with the ``external_id`` and
``updated_since`` filters, single reads, creates (201 + Location) and patches that change only
the properties sent. ``external_id`` is unique per kind (409 ``duplicate_external_id``) and a
contact's ``primary_email`` is unique among contacts (400 ``email_in_use``); both name the
existing record in ``error.existing_id``.
"""

from __future__ import annotations

import base64
import bisect
import json
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pmtools.sandbox.state import ACCOUNTS, CONTACTS, SandboxState, parse_time

MAX_LIMIT, DEFAULT_LIMIT = 100, 50
ADDRESS_PARTS = ("line1", "line2", "city", "state", "postal_code", "country")
CREATABLE = {
    ACCOUNTS: ("name", "address", "phone", "website", "archived", "external_id"),
    CONTACTS: (
        "first_name",
        "middle_name",
        "last_name",
        "title",
        "primary_email",
        "account_ids",
        "created_by",
        "archived",
        "external_id",
    ),
}
PATCHABLE = {
    ACCOUNTS: ("name", "address", "phone", "website", "archived"),
    CONTACTS: (
        "first_name",
        "middle_name",
        "last_name",
        "title",
        "primary_email",
        "account_ids",
        "archived",
    ),
}
REQUIRED = {ACCOUNTS: ("name",), CONTACTS: ("first_name", "last_name")}


class LiscioError(Exception):
    """An error reply: ``{"error": {"code", "message", "existing_id"?}}``."""

    def __init__(
        self, status: int, code: str, message: str, existing_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.existing_id = existing_id

    def response(self) -> JSONResponse:
        """The reply."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.existing_id is not None:
            error["existing_id"] = self.existing_id
        return JSONResponse({"error": error}, status_code=self.status)


def bad_request(message: str) -> LiscioError:
    """400 ``invalid_request``."""
    return LiscioError(400, "invalid_request", message)


def build_liscio_app(state: SandboxState) -> Starlette:
    """The Liscio ASGI app over ``state``."""
    routes = [Route("/v1/firm", _wrap(state, read_firm, "firm"), methods=["GET"])]
    for collection in (ACCOUNTS, CONTACTS):
        routes += [
            Route(f"/v1/{collection}", _wrap(state, list_records, collection), methods=["GET"]),
            Route(f"/v1/{collection}", _wrap(state, create_record, collection), methods=["POST"]),
            Route(
                f"/v1/{collection}/{{id}}", _wrap(state, read_record, collection), methods=["GET"]
            ),
            Route(
                f"/v1/{collection}/{{id}}",
                _wrap(state, patch_record, collection),
                methods=["PATCH"],
            ),
        ]
    return Starlette(routes=routes, exception_handlers={HTTPException: _http_error})


def _wrap(state: SandboxState, handler: Any, collection: str) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            body = None
            if request.method in ("POST", "PATCH"):
                try:
                    body = json.loads(await request.body())
                except ValueError:
                    raise bad_request("The request body is not valid JSON.") from None
                if not isinstance(body, dict):
                    raise bad_request("The request body must be a JSON object.")
            with state.transaction():
                return handler(state, request, collection, body)
        except LiscioError as exc:
            return exc.response()

    return endpoint


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    code = "not_found" if status == 404 else "invalid_request"
    return LiscioError(status, code, f"No route for {request.method} {request.url.path}").response()


def list_records(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """GET /v1/accounts and /v1/contacts: one page, in id order."""
    params = request.query_params
    limit = _limit(params.get("limit"))
    after = _decode_cursor(params["cursor"]) if "cursor" in params else None
    since = None
    if params.get("updated_since"):
        try:
            since = parse_time(params["updated_since"])
        except ValueError:
            raise bad_request("updated_since must be an ISO-8601 timestamp.") from None
    if "external_id" in params:
        found = state.id_for_external(collection, params["external_id"])
        ids = [found] if found is not None else []
    else:
        ids = _sorted_ids(state, collection)
    items = []
    next_cursor = None
    start = _bisect_after(ids, after) if after is not None else 0
    for index in range(start, len(ids)):
        record = state.records[collection][ids[index]]
        if since is not None and parse_time(record["updated_at"]) < since:
            continue
        if len(items) == limit:
            next_cursor = _encode_cursor(items[-1]["id"])
            break
        items.append(record)
    return JSONResponse({"items": items, "next_cursor": next_cursor})


def read_firm(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """GET /v1/firm: the firm these accounts and contacts belong to."""
    from pmtools.sandbox.dataset import FIRM

    firm = state.firm or FIRM  # a database saved before firms had an identity
    return JSONResponse({"id": firm["id"], "name": firm["name"]})


def read_record(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """GET one account or contact."""
    return JSONResponse(_find(state, collection, request.path_params["id"]))


def create_record(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """POST an account or contact: 201 with the record and a Location."""
    _check_names(body, CREATABLE[collection])
    for name in REQUIRED[collection]:
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise bad_request(f"{name} is required.")
    external_id = body.get("external_id")
    if external_id is not None:
        if not isinstance(external_id, str) or not external_id:
            raise bad_request("external_id must be a non-empty string or null.")
        existing = state.id_for_external(collection, external_id)
        if existing is not None:
            raise LiscioError(
                409,
                "duplicate_external_id",
                f"external_id {external_id!r} is already used by {existing}",
                existing_id=existing,
            )
    now = state.stamp()
    record: dict[str, Any] = {"id": state.new_key(collection)}
    if collection == ACCOUNTS:
        record.update(name=None, address=None, phone=None, website=None)
    else:
        record.update(
            first_name=None,
            middle_name=None,
            last_name=None,
            title=None,
            primary_email=None,
            account_ids=[],
            created_by="firm",
        )
    record.update(archived=False, external_id=external_id, created_at=now, updated_at=now)
    _apply(state, collection, record, {k: v for k, v in body.items() if k != "external_id"})
    state.put(collection, record)
    base = f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"
    location = f"{base}/v1/{collection}/{record['id']}"
    return JSONResponse(record, status_code=201, headers={"Location": location})


def patch_record(state: SandboxState, request: Request, collection: str, body: Any) -> Response:
    """PATCH an account or contact: only the properties sent change (null clears)."""
    record = _find(state, collection, request.path_params["id"])
    if not body:
        raise bad_request("Send at least one property to change.")
    _check_names(body, PATCHABLE[collection])
    changed = dict(record)
    _apply(state, collection, changed, body)
    if changed != record:
        changed["updated_at"] = state.stamp()
        state.put(collection, changed)
    return JSONResponse(changed)


def _apply(
    state: SandboxState, collection: str, record: dict[str, Any], values: dict[str, Any]
) -> None:
    """Validate ``values`` and write them into ``record``."""
    for name, value in values.items():
        if name == "archived":
            if not isinstance(value, bool):
                raise bad_request("archived must be true or false.")
        elif name == "address":
            value = _address(value)
        elif name == "account_ids":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad_request("account_ids must be an array of account ids.")
            missing = [v for v in value if v not in state.records[ACCOUNTS]]
            if missing:
                raise bad_request(f"No account with id {missing[0]}.")
            value = list(dict.fromkeys(value))
        elif name == "created_by":
            if value not in ("firm", "account_owner"):
                raise bad_request("created_by must be firm or account_owner.")
        else:
            if value is not None and not isinstance(value, str):
                raise bad_request(f"{name} must be a string or null.")
            value = value.strip() if isinstance(value, str) else None
            value = value or None
            if name in REQUIRED[collection] and value is None:
                raise bad_request(f"{name} must not be empty.")
        record[name] = value
    email = record.get("primary_email") if collection == CONTACTS else None
    if email:
        owner = state.contact_with_email(email)
        if owner is not None and owner != record["id"]:
            raise LiscioError(
                400, "email_in_use", f"primary_email is already used by {owner}", existing_id=owner
            )


def _address(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("address must be an object or null.")
    unknown = [k for k in value if k not in ADDRESS_PARTS]
    if unknown:
        raise bad_request(f"Unknown address property {unknown[0]!r}.")
    out = {}
    for part in ADDRESS_PARTS:
        item = value.get(part)
        if item is not None and not isinstance(item, str):
            raise bad_request(f"address.{part} must be a string or null.")
        out[part] = (item.strip() or None) if isinstance(item, str) else None
    return out


def _check_names(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise bad_request(f"Unknown or read-only property {unknown[0]!r}.")


def _find(state: SandboxState, collection: str, record_id: str) -> dict[str, Any]:
    record = state.get(collection, record_id)
    if record is None:
        raise LiscioError(404, "not_found", f"No {collection[:-1]} with id {record_id}.")
    return record


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise bad_request("limit must be a whole number from 1 to 100.") from None
    if not 1 <= value <= MAX_LIMIT:
        raise bad_request("limit must be a whole number from 1 to 100.")
    return value


def _sorted_ids(state: SandboxState, collection: str) -> list[str]:
    cache_key = ("liscio-ids", collection)
    cached = state.cache.get(cache_key)
    if cached is not None and cached[0] == state.version:
        return cached[1]
    ids = sorted(state.records[collection])
    state.cache[cache_key] = (state.version, ids)
    return ids


def _bisect_after(ids: list[str], after: str) -> int:
    return bisect.bisect_right(ids, after)


def _encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise bad_request("cursor is not a cursor this service gave out.") from None
    if not text.startswith("after:"):
        raise bad_request("cursor is not a cursor this service gave out.")
    return text[len("after:") :]
