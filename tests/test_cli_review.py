"""``pmtools review export|import`` and the create refusals, end to end against the bundled
simulator over loopback HTTP with a real state file."""

import csv

import pytest
from fakes import point_at

from pmtools.cli import main
from pmtools.store import Store

COLUMNS = [
    "Kind",
    "Side",
    "Record ID",
    "Name",
    "Status",
    "Suggested ID",
    "Suggested Name",
    "Reason",
    "Score",
    "Decision",
    "Link To",
]


@pytest.fixture
def synced(tmp_path, monkeypatch, capsys):
    """A small demo firm in the simulator, after its first Sync Now."""
    from pmtools.sandbox.dataset import demo_dataset
    from pmtools.sandbox.server import start_sandbox

    for var in ("PMTOOLS_STATE", "PMTOOLS_LISCIO_URL", "PMTOOLS_IPM_URL"):
        monkeypatch.delenv(var, raising=False)
    state = tmp_path / "state.sqlite"
    monkeypatch.setenv("PMTOOLS_STATE", str(state))
    server = start_sandbox(dataset=demo_dataset(organizations=40, people=40), rate_limit=0)
    try:
        point_at(monkeypatch, server)
        assert main(["sync", "--force"]) in (0, 1)
        capsys.readouterr()
        yield state
    finally:
        server.stop()


def export(tmp_path, capsys, name="review.csv", *extra):
    path = tmp_path / name
    assert main(["review", "export", *extra, "-o", str(path)]) == 0
    assert "records to decide" in capsys.readouterr().out
    return path


def read_rows(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path, rows, columns=COLUMNS):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def changes(state):
    with Store.open(state) as store:
        return (len(store.runs()), len(store.links()), len(store.decisions()))


def test_export_writes_every_record_to_decide(synced, tmp_path, capsys):
    rows = read_rows(export(tmp_path, capsys))
    assert rows and set(COLUMNS) <= set(rows[0])
    assert {r["Kind"] for r in rows} == {"accounts", "contacts"}
    assert {r["Side"] for r in rows} == {"Liscio", "IPM"}
    assert {r["Decision"] for r in rows} == {""}
    assert {"likely match", "ambiguous"} <= {r["Status"] for r in rows}
    xlsx = export(tmp_path, capsys, "review.xlsx", "--kind", "accounts")
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    header = [c.value for c in sheet[1]]
    assert set(COLUMNS) <= set(header)
    kinds = {sheet.cell(row=r, column=1).value for r in range(2, sheet.max_row + 1)}
    assert kinds == {"accounts"}
    assert all(
        c.data_type == "s" for row in sheet.iter_rows(min_row=2) for c in row if c.value is not None
    )  # text cells: never a formula
    assert main(["review", "export", "-o", str(tmp_path / "review.txt")]) == 2


def test_import_names_every_bad_row_and_changes_nothing(synced, tmp_path, capsys):
    rows = read_rows(export(tmp_path, capsys))
    liscio_row = next(r for r in rows if r["Side"] == "Liscio" and r["Kind"] == "accounts")
    ipm_row = next(r for r in rows if r["Side"] == "IPM" and r["Kind"] == "accounts")
    with Store.open(synced) as store:
        linked = next(link for link in store.links() if link.kind.value == "accounts")
    bad = [
        {**liscio_row, "Record ID": "acc_999999", "Decision": "link"},  # row 2
        {
            **liscio_row,
            "Record ID": linked.liscio_id,
            "Name": "a linked one",
            "Decision": "link",
        },  # row 3
        {**ipm_row, "Side": "Liscio", "Decision": "create"},  # row 4
        {**liscio_row, "Decision": "link", "Link To": liscio_row["Record ID"]},  # row 5
        {**liscio_row, "Decision": "skip"},  # row 6
        {**ipm_row, "Decision": "merge"},  # row 7
    ]
    path = write_rows(tmp_path / "bad.csv", bad)
    before = changes(synced)
    assert main(["review", "import", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert f"Row 2 ({liscio_row['Name']}): there is no Liscio record acc_999999" in err
    assert "Row 3 (a linked one): already decided: linked to" in err
    assert f"Row 4 ({ipm_row['Name']}): {ipm_row['Record ID']} is an IPM id, not a Liscio" in err
    assert "Row 5 (" in err and "is a Liscio id: it must be an IPM one" in err
    assert "Row 6 (" in err and "a second row for this record (the first is row 5)" in err
    assert f"Row 7 ({ipm_row['Name']}): unknown decision 'merge'" in err
    assert "nothing was changed" in err
    assert changes(synced) == before


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("notes.txt", "hello", "must be .xlsx or .csv"),
        ("short.csv", "Kind,Side,Name\naccounts,Liscio,x\n", "lacks the column(s) Record ID"),
        ("empty.csv", ",".join(COLUMNS) + "\n", "has no rows"),
        ("broken.xlsx", "not a zip", "could not be read as XLSX"),
    ],
)
def test_a_bad_file_changes_nothing(synced, tmp_path, capsys, name, content, words):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    before = changes(synced)
    assert main(["review", "import", str(path), "--yes"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert changes(synced) == before


def test_import_shows_the_effect_then_applies_with_yes_and_undo_takes_it_back(
    synced, tmp_path, capsys
):
    rows = read_rows(export(tmp_path, capsys))
    take = [
        r
        for r in rows
        if r["Status"] == "likely match" and r["Side"] == "Liscio" and "tied" not in r["Reason"]
    ][:3]
    assert take
    for r in take:
        r["Decision"] = "link"
    path = write_rows(tmp_path / "filled.csv", take)
    before = changes(synced)
    assert main(["review", "import", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        f"link {take[0]['Kind']}: {take[0]['Name']!r} with {take[0]['Suggested Name']!r}" in out
        and "dry run: nothing was written" in out
    )
    assert main(["review", "import", str(path)]) == 0
    assert "--yes" in capsys.readouterr().out
    assert changes(synced) == before
    assert main(["review", "import", str(path), "--yes"]) == 0
    out = capsys.readouterr().out
    assert "review run" in out and f"{len(take)} linked" in out
    with Store.open(synced) as store:
        run = store.runs()[-1]
        assert run["command"] == "review" and run["counts"]["linked"] == len(take)
        assert store.link_for(take[0]["Kind"], liscio_id=take[0]["Record ID"]) is not None
    assert main(["review", "import", str(path), "--yes"]) == 2  # now already decided
    assert "already decided" in capsys.readouterr().err
    assert main(["undo", str(run["id"])]) in (0, 1)
    with Store.open(synced) as store:
        assert store.link_for(take[0]["Kind"], liscio_id=take[0]["Record ID"]) is None


def test_create_in_ipm_is_refused_next_to_a_likely_duplicate(synced, tmp_path, capsys):
    rows = read_rows(export(tmp_path, capsys))
    row = next(r for r in rows if r["Status"] == "likely match" and r["Side"] == "Liscio")
    before = changes(synced)
    assert main(["create-in-ipm", row["Kind"], row["Record ID"]]) == 3
    err = capsys.readouterr().err
    assert row["Suggested Name"] in err and "create it anyway" in err
    assert row["Record ID"] not in err
    assert changes(synced) == before
    assert main(["create-in-ipm", row["Kind"], row["Record ID"], "--anyway"]) == 0
    ipm_row = next(
        r
        for r in rows
        if r["Status"] == "likely match"
        and r["Side"] == "IPM"
        and r["Suggested ID"] != row["Record ID"]
    )
    assert main(["create-in-liscio", ipm_row["Kind"], ipm_row["Record ID"]]) == 3
    assert ipm_row["Suggested Name"] in capsys.readouterr().err


def test_import_progress_is_a_line_per_tenth(capsys):
    from pmtools.cli.review import _Progress

    progress = _Progress()
    for done in range(0, 201):
        progress("linking", done, 200, "link accounts")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "applying: 0 of 200 changes" and lines[-1] == "applying: 200 of 200 changes"
    assert len(lines) == 11
