"""The hostile record data corpus (issue 8 §5, §7): names, emails, phones and addresses that
came from outside the firm, run end to end — the CLI in-process, real HTTP over loopback to
the simulator, a real state file.

Each case is a record whose name or values are hostile: control characters and NUL, bidi
overrides, zero-width characters, names of only invisible characters, very long values,
formula-looking values (``=``, ``+``, ``-``, ``@``), lone combining marks, emoji, right-to-left
scripts, quotes, markup. One simulated firm holds every case twice: a Liscio record linked by
its exact name to an IPM record (the first Sync Now writes its values), and a Liscio record
created after the first Sync Now (the next sync creates it in IPM). Per case it is asserted:

- every line a terminal shows (the dry run, the sync, ``explain``, ``runs``, ``status``, log
  lines) holds no raw control, format or bidi character, and names the record visibly
  escaped; the dry run writes nothing;
- the documented exit code: 0 for names and values, 1 (done with record errors) for an
  invalid email, whose error names the record;
- nothing lost: IPM holds exactly the Liscio values (an invalid email: nothing), a created
  record has exactly its Liscio name, a name of only invisible characters is not created;
- the pairs, changes and errors reports are written as CSV and as XLSX, each cell readable,
  after the records were renamed too (the audit trail keeps the old names);
- the app's Report builds both files from the same data.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from pmtools import config
from pmtools.analysis.reports import neutralize
from pmtools.cli import main
from pmtools.core.text import for_cell, quoted
from pmtools.sandbox.server import start_sandbox

ENV = (
    "PMTOOLS_STATE",
    "PMTOOLS_LISCIO_URL",
    "PMTOOLS_LISCIO_TOKEN",
    "PMTOOLS_IPM_URL",
    "PMTOOLS_IPM_TOKEN",
    "PMTOOLS_IPM_ACCESS_KEY",
    "PMTOOLS_IPM_RATE_LIMIT",
)
# Characters a terminal must never receive raw from record text.
RAW = ("Cc", "Cf", "Cs", "Zl", "Zp")


@dataclass(frozen=True, slots=True, kw_only=True)
class Case:
    """One hostile record: an account (``name``) or a contact (``first``/``last``)."""

    id: str
    name: str = ""
    first: str = ""
    last: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    invisible: bool = False  # a name of only invisible characters: an empty name
    bad_email: bool = False

    @property
    def kind(self) -> str:
        return "contacts" if self.last else "accounts"

    @property
    def full(self) -> str:
        """The name as pmtools reads it (the connectors trim white space at the ends)."""
        return f"{self.first.strip()} {self.last.strip()}" if self.last else self.name.strip()


def _a(cid: str, name: str, **values: Any) -> Case:
    return Case(id=cid, name=name, values=values)


def _c(cid: str, first: str, last: str, **values: Any) -> Case:
    return Case(id=cid, first=first, last=last, values=values)


CASES = [
    # control characters
    _a("nul", "Nul\x00 Holdings"),
    _a("esc-csi", "Esc\x1b[2J\x1b[31m Clear Co"),
    _a("osc-title", "Title\x1b]0;pwned\x07 Co"),
    _a("bell-backspace", "Bell\x07\x08\x08 Co"),
    _a("c0-mix", "Ctl\x01\x02\x03\x1f Co"),
    _a("del", "Del\x7f Co"),
    _a("c1", "C1\x85\x9b31m Co"),
    _a("newline", "Line\nBreak Co"),
    _a("carriage-return", "Carriage\rReturn Co"),
    _a("inner-tab", "Inner\tTab Co"),
    # bidi and zero-width
    _a("rlo", "Evil \u202eCLL Partners"),
    _a("lro-pdf", "\u202dForced\u202c LTR Co"),
    _a("isolates", "\u2066Isolated\u2069 \u2067Co\u2069"),
    _a("zero-width-space", "Zero\u200bWidth Co"),
    _a("zwj-zwnj", "Join\u200d\u200cers Co"),
    _a("bom-inside", "Bom\ufeff Co"),
    _a("word-joiner-soft-hyphen", "Word\u2060Joiner\xad Co"),
    _a("odd-spaces", "Wide\u3000Space\xa0Co\u2028"),
    _a("noncharacter", "Non\uffff\ufffe Co"),
    # names of only invisible characters: empty names, never created
    Case(id="only-zero-width", name="\u200b\u200c\u200d", invisible=True),
    Case(id="only-bidi", name="\u202e\u2066\u2069\ufeff", invisible=True),
    Case(id="only-fillers", name="\u3164\u2800\u115f", invisible=True),
    # very long
    _a("very-long", "Long " + "x" * 40_000 + " Co"),
    # formula-looking
    _a("formula-eq", '=HYPERLINK("http://evil.example","Click")'),
    _a("formula-plus", "+1 555 0100 Holdings"),
    _a("formula-minus", "-2+3"),
    _a("formula-at", "@SUM(1+1)*cmd|' /C calc'!A0"),
    _a("formula-tab", "\t=1+1 Tabbed"),
    _a("fullwidth-formula", "＝1+1 Fullwidth"),
    # scripts, marks, emoji
    _a("lone-combining", "\u0301\u0308 Marks Co"),
    _a("zalgo", "Z\u0351\u0352\u0353\u0354a\u0355\u0356lgo Co"),
    _a("emoji", "😀 Smiles 👩‍💻 Co 🇺🇸"),
    _a("hebrew", 'חברה לדוגמה בע"מ'),
    _a("arabic-digits", "شركة الأمل 123"),
    # quoting and markup
    _a("quotes-backslash", "Quote\" \\n Back\\slash' Co"),
    _a("sql", "Robert'); DROP TABLE accounts;-- LLC"),
    _a("printf", "%s%n%(name)s {0} Co"),
    _a("markup", "<img src=x onerror=alert(1)><script>x</script> Co"),
    # hostile values
    _a("phone-formula", "Phone Formula Co", phone="=1+1"),
    _a("phone-plus-minus", "Phone Plus Co", phone="+1 555 0100 \u202e01"),
    _a("website-formula", "Website Formula Co", website='=HYPERLINK("http://evil.example")'),
    _a(
        "address-controls",
        "Address Controls Co",
        address={
            "line1": "1 Main\x00 St\x1b[2J",
            "city": "Spring\u202efield",
            "state": "IL",
            "postal_code": "=62701",
            "country": "US",
        },
    ),
    # people
    _c("person-controls", "Zoë\u200b", "O'Brien\x00\x1b[31m", primary_email="zoe@obrien.example"),
    _c("person-rtl", "דוד", "כהן\u202e", primary_email="david@cohen.example"),
    _c("person-title", "Ann", "Title", title="=cmd|' /C calc'!A0\x1b[5m"),
    _c("person-emoji", "👩‍💻", "Coder", primary_email="coder@example.com"),
]
EMAIL_CASES = [
    Case(
        id="email-hyperlink",
        first="Hyper",
        last="Link",
        values={"primary_email": '=HYPERLINK("http://evil.example","mail")'},
        bad_email=True,
    ),
    Case(
        id="email-no-at",
        first="No",
        last="At",
        values={"primary_email": "not an email"},
        bad_email=True,
    ),
    Case(
        id="email-two-ats",
        first="Two",
        last="Ats",
        values={"primary_email": "two@@ats.com"},
        bad_email=True,
    ),
    Case(
        id="email-bidi",
        first="Bidi",
        last="Mail",
        values={"primary_email": "bidi\u202e@mail.example"},
        bad_email=True,
    ),
    Case(
        id="email-nul",
        first="Nul",
        last="Mail",
        values={"primary_email": "nul@mail.example\x00"},
        bad_email=True,
    ),
    Case(
        id="email-plus-formula",
        first="Plus",
        last="Mail",
        values={"primary_email": "+1+1@mail.example"},
        bad_email=True,
    ),
]
ALL = CASES + EMAIL_CASES


def _new_name(case: Case) -> str:
    """The name of the record created after the first Sync Now, as pmtools reads it."""
    if case.invisible:
        return case.name
    if case.kind == "contacts":
        return f"{case.first.strip()} {case.last.strip()} 2"
    return f"{case.name} 2".strip()


def _new_values(case: Case) -> dict[str, Any]:
    """The values of the record created after the first Sync Now (Liscio's emails are unique)."""
    email = case.values.get("primary_email")
    if email is None:
        return dict(case.values)
    email = email.replace("@", "2@", 1) if "@" in email else email + "2"
    return {**case.values, "primary_email": email}


def _card() -> dict[str, Any]:
    return {
        "IsPrimaryCard": True,
        "EmailAddresses": [],
        "Addresses": [],
        "WebSites": [],
        "PhoneNumbers": [],
    }


def _dataset(cases: list[Case]) -> dict[str, Any]:
    data: dict[str, Any] = {"organizations": [], "people": [], "accounts": [], "contacts": []}
    for case in cases:
        if case.invisible:
            continue  # nothing in IPM to link to; the record is added after the first sync
        if case.kind == "accounts":
            data["organizations"].append({"FullName": case.name, "BusinessCards": [_card()]})
            data["accounts"].append({"name": case.name, **case.values})
        else:
            data["people"].append(
                {"FirstName": case.first, "LastName": case.last, "BusinessCards": [_card()]}
            )
            data["contacts"].append(
                {"first_name": case.first, "last_name": case.last, **case.values}
            )
    # one plain pair, so that each report has an ordinary row too
    data["organizations"].append({"FullName": "Plain Partners", "BusinessCards": [_card()]})
    data["accounts"].append({"name": "Plain Partners", "phone": "555-0100"})
    return data


def _raw_chars(text: str) -> list[str]:
    """Characters a terminal should never have received raw (line breaks apart)."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in RAW]


@dataclass(slots=True)
class World:
    """One firm holding ``cases``, synced twice; what every command printed and wrote."""

    cases: list[Case]
    server: Any
    tmp: Any
    out: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    files: dict[str, Any] = field(default_factory=dict)
    writes_in_dry_run: int = -1
    # IPM after both syncs, before the records were renamed: (record, its primary card)
    organizations: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    people: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def run(self, key: str, argv: list[str], capsys: Any) -> tuple[int, str, str]:
        code = main(argv)
        got = capsys.readouterr()
        self.out[key] = (code, got.out, got.err)
        return self.out[key]


def _writes(server: Any) -> int:
    counts = server.stats.counts
    return sum(
        counts[f"{side}:{m}"]
        for side in ("ipm", "liscio")
        for m in ("POST", "PUT", "PATCH", "DELETE")
    )


def _liscio(server: Any) -> httpx.Client:
    return httpx.Client(
        base_url=server.liscio_url,
        timeout=30,
        headers={"Authorization": f"Bearer {config.SANDBOX_LISCIO_TOKEN}"},
    )


def _add_new_records(server: Any, cases: list[Case]) -> None:
    """Liscio records created after the first Sync Now (the next sync creates them in IPM)."""
    with _liscio(server) as liscio:
        for case in cases:
            if case.kind == "accounts":
                body = {
                    "name": case.name if case.invisible else f"{case.name} 2",
                    **_new_values(case),
                }
                reply = liscio.post("/v1/accounts", json=body)
            else:
                body = {
                    "first_name": case.first,
                    "last_name": f"{case.last} 2",
                    **_new_values(case),
                }
                reply = liscio.post("/v1/contacts", json=body)
            assert reply.status_code == 201, (case.id, reply.text)


def _build_world(cases: list[Case], tmp_path_factory: Any, monkeypatch: Any, capsys: Any) -> World:
    tmp = tmp_path_factory.mktemp("hostile")
    server = start_sandbox(dataset=_dataset(cases), rate_limit=100_000)
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PMTOOLS_STATE", str(tmp / "state.sqlite"))
    monkeypatch.setenv("PMTOOLS_LISCIO_URL", server.liscio_url)
    monkeypatch.setenv("PMTOOLS_IPM_URL", server.ipm_url)
    monkeypatch.setenv("PMTOOLS_LISCIO_TOKEN", config.SANDBOX_LISCIO_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_TOKEN", config.SANDBOX_IPM_TOKEN)
    monkeypatch.setenv("PMTOOLS_IPM_ACCESS_KEY", config.SANDBOX_IPM_ACCESS_KEY)
    monkeypatch.setenv("PMTOOLS_IPM_RATE_LIMIT", "100000")
    world = World(cases=cases, server=server, tmp=tmp)
    before = _writes(server)
    world.run("dry-run", ["sync", "--dry-run"], capsys)
    world.writes_in_dry_run = _writes(server) - before
    world.run("sync", ["sync", "--json"], capsys)
    _add_new_records(server, cases)
    world.run("dry-run-2", ["sync", "--dry-run"], capsys)
    world.run("sync-2", ["sync", "--json"], capsys)
    for case in cases:  # before the records are renamed below
        world.run(
            f"explain-new-{case.id}", ["explain", case.kind, _new_name(case), "--json"], capsys
        )
        if not case.invisible:
            world.run(f"explain-{case.id}", ["explain", case.kind, case.full], capsys)
    world.run("runs", ["runs"], capsys)
    world.run("status", ["status"], capsys)
    for kind in ("accounts", "contacts"):
        for fmt in ("csv", "xlsx"):
            path = tmp / f"{kind}.{fmt}"
            world.run(f"report-{kind}-{fmt}", ["report", "--kind", kind, "-o", str(path)], capsys)
            world.files[f"{kind}.{fmt}"] = path
    state = server.state
    world.organizations = [
        (o, state.primary_card(o["OrganizationKey"]) or {}) for o in state.all("organizations")
    ]
    world.people = [(p, state.primary_card(p["ContactKey"]) or {}) for p in state.all("people")]
    _rename_every_record(server)  # "fixed": the audit trail still holds the old names
    for what in ("changes", "errors"):
        for fmt in ("csv", "xlsx"):
            path = tmp / f"{what}.{fmt}"
            world.run(f"report-{what}-{fmt}", ["report", f"--{what}", "-o", str(path)], capsys)
            world.files[f"{what}.{fmt}"] = path
    return world


def _rename_every_record(server: Any) -> None:
    """Give every record a plain name in both systems (as a person fixing them would)."""
    state = server.state
    with state.transaction():
        for n, org in enumerate(state.all("organizations")):
            state.put("organizations", {**org, "FullName": f"Fixed Org {n}"})
        for n, acct in enumerate(state.all("accounts")):
            state.put("accounts", {**acct, "name": f"Fixed Account {n}"})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The names-and-values firm (CASES), synced twice, reported."""
    with pytest.MonkeyPatch.context() as mp:
        capsys = _Capture()
        with capsys:
            w = _build_world(CASES, tmp_path_factory, mp, capsys)
        yield w
        w.server.stop()


@pytest.fixture(scope="module")
def email_world(tmp_path_factory):
    """The invalid-emails firm (EMAIL_CASES), synced twice, reported."""
    with pytest.MonkeyPatch.context() as mp:
        capsys = _Capture()
        with capsys:
            w = _build_world(EMAIL_CASES, tmp_path_factory, mp, capsys)
        yield w
        w.server.stop()


class _Capture:
    """``capsys`` for a module-scoped fixture: stdout and stderr of in-process commands."""

    def __enter__(self) -> _Capture:
        import contextlib

        self._out, self._err = io.StringIO(), io.StringIO()
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(contextlib.redirect_stdout(self._out))
        self._stack.enter_context(contextlib.redirect_stderr(self._err))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def readouterr(self) -> Any:
        from types import SimpleNamespace

        got = SimpleNamespace(out=self._out.getvalue(), err=self._err.getvalue())
        self._out.seek(0)
        self._out.truncate()
        self._err.seek(0)
        self._err.truncate()
        return got


def _world_of(case: Case, request: Any) -> World:
    return request.getfixturevalue("email_world" if case.bad_email else "world")


# -- the terminal -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_the_terminal_never_gets_raw_record_text_and_sees_the_record(case, request):
    w = _world_of(case, request)
    for key, (_code, out, err) in w.out.items():
        assert _raw_chars(out) == [] and _raw_chars(err) == [], (key, out[-2000:], err[-2000:])
    code, dry, _ = w.out["dry-run"]
    assert code == 0 and w.writes_in_dry_run == 0  # the dry run writes nothing
    if not case.invisible:
        assert quoted(case.full) in dry, dry[-3000:]


@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_explain_finds_the_record_by_its_name(case, request):
    w = _world_of(case, request)
    code, out, _ = w.out[f"explain-new-{case.id}"]
    findings = json.loads(out.strip().splitlines()[-1])["findings"]
    assert code == 0
    if case.invisible:  # an empty name names no record
        assert [f["status"] for f in findings] == ["not_found"]
        return
    assert {f["name"] for f in findings} == {_new_name(case)}
    assert {f["status"] for f in findings} == {"linked"}
    # the linked record by its own name ("-2+3" is a name, not an option), escaped
    code, text, _ = w.out[f"explain-{case.id}"]
    assert code == 0 and "linked with" in text and repr(case.full) in text, text[-2000:]


# -- exit codes, and nothing lost --------------------------------------------------------------
@pytest.mark.parametrize("case", ALL, ids=lambda c: c.id)
def test_the_documented_exit_code_and_nothing_lost(case, request):
    w = _world_of(case, request)
    expected = 1 if case.bad_email else 0  # README: 1 = done with record errors
    for key in ("sync", "sync-2"):
        code, out, err = w.out[key]
        assert code == expected, (key, out[-2000:], err[-2000:])
    if case.kind == "accounts":
        names = [o["FullName"] for o, _ in w.organizations]
        if case.invisible:
            assert case.name not in names  # an empty name: not created
            assert "IPM needs a name" in w.out["dry-run-2"][1]
            return
        # the linked one keeps its name; the created one has exactly the Liscio name
        assert case.name in names and _new_name(case) in names
        for org, card in w.organizations:
            if org["FullName"] not in (case.name, _new_name(case)):
                continue
            phones = [p["Number"] for p in card.get("PhoneNumbers") or []]
            sites = list(card.get("WebSites") or [])
            if "phone" in case.values:
                assert phones == [case.values["phone"]]
            if "website" in case.values:
                assert sites == [case.values["website"]]
            if "address" in case.values:
                (address,) = card["Addresses"]
                assert address["AddressLines"].startswith(case.values["address"]["line1"])
                assert address["City"] == case.values["address"]["city"]
        return
    people = [
        (p, card)
        for p, card in w.people
        if p["FirstName"] == case.first and p["LastName"] in (case.last, f"{case.last} 2")
    ]
    assert len(people) == 2, [(p["FirstName"], p["LastName"]) for p, _ in w.people]
    emails = {p["LastName"]: card.get("EmailAddresses") for p, card in people}
    email = case.values.get("primary_email")
    if case.bad_email:
        assert emails == {case.last: [], f"{case.last} 2": []}  # never written
        assert "not a valid email" in w.out["dry-run"][1]  # the dry run says so first
        _code, _out, err = w.out["sync"]
        assert (
            f'Liscio contact "{case.first} {case.last}"' in err
            and "not a valid address" in err
            and "correct it in Liscio" in err
        )
    if "title" in case.values:  # written exactly, control characters and all
        assert {card.get("RoleOrTitle") for _, card in people} == {case.values["title"]}
    if email and not case.bad_email:
        assert emails == {
            case.last: [email],
            f"{case.last} 2": [_new_values(case)["primary_email"]],
        }


def test_the_first_sync_linked_every_visible_pair(world):
    counts = json.loads(world.out["sync"][1].strip().splitlines()[-1])
    visible = [c for c in CASES if not c.invisible]
    assert counts["linked"] == len(visible) + 1 and counts["errors"] == 0


# -- the reports --------------------------------------------------------------------------------
def _csv_rows(path: Any) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _xlsx_rows(path: Any) -> list[tuple[Any, ...]]:
    ws = load_workbook(path).active
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f"
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


@pytest.mark.parametrize("report", ["accounts", "contacts", "changes", "errors"])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("firm", ["world", "email_world"])
def test_every_report_is_written_whole(report, fmt, firm, request):
    w = request.getfixturevalue(firm)
    code, out, err = w.out[f"report-{report}-{fmt}"]
    assert code == 0 and "wrote" in out, err
    rows = (_csv_rows if fmt == "csv" else _xlsx_rows)(w.files[f"{report}.{fmt}"])
    assert len(rows) >= 2 or (report == "errors" and firm == "world")


@pytest.mark.parametrize("case", [c for c in ALL if not c.invisible], ids=lambda c: c.id)
def test_the_reports_hold_the_record_visibly(case, request):
    w = _world_of(case, request)
    name = case.full
    pairs = f"{case.kind}.xlsx"
    cells = {v for row in _xlsx_rows(w.files[pairs]) for v in row if isinstance(v, str)}
    assert for_cell(name) in cells  # as it is, or escaped where a file cannot hold it
    csv_cells = {v for row in _csv_rows(w.files[f"{case.kind}.csv"]) for v in row}
    in_csv = "\r".join(for_cell(part, limit=None) for part in name.split("\r"))
    assert neutralize(in_csv) in csv_cells
    # the audit trail keeps the names the records had when they were synced
    changes = {v for row in _xlsx_rows(w.files["changes.xlsx"]) for v in row if isinstance(v, str)}
    assert for_cell(name) in changes
    if case.bad_email:
        errors = _csv_rows(w.files["errors.csv"])
        assert any(neutralize(name) in row and "email" in row for row in errors)


def test_the_apps_report_builds_both_files_from_the_same_writer(world):
    """The app's Report (the same writer as the CLI's) with hostile names in the pairs."""
    from pmtools.config import Settings
    from pmtools.workbench import Workbench, open_session

    settings = Settings(state_path=world.tmp / "state.sqlite", ipm_rate_limit=100_000)
    session = open_session(settings.with_sandbox(world.server.url))  # the world's firm
    try:
        app = Workbench(session)
        app.report.kind.value = "contacts"
        app.report.build_button.click()
        wait = getattr(app.report, "wait", None)  # when the build runs in the background
        assert wait is None or wait(120)
        assert set(app.report.files) == {"csv", "xlsx"}, app.report.preview.value
        ws = load_workbook(io.BytesIO(app.report.files["xlsx"])).active
        cells = {c.value for row in ws.iter_rows() for c in row}
        text = app.report.files["csv"].decode("utf-8-sig")
        for case in CASES:
            if case.kind == "contacts":
                assert for_cell(case.full) in cells
                assert neutralize(for_cell(case.full, limit=None)) in text
    finally:
        session.close()
