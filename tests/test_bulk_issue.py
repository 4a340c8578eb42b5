"""Bulk issuing from a CSV: reading the file, the pages, the passes created."""

import csv
import html
import io
import re

import pytest
from sqlalchemy import func, select

from app import jobs
from app.extensions import db
from app.merchants import create_merchant
from app.models import (
    BULK_CHECKED,
    BULK_FINISHED,
    BulkImport,
    DownloadLink,
    DownloadLinkPass,
    MailBatch,
    Pass,
)
from app.passes import service
from app.passes.bulk import rows as bulk_rows
from app.passes.bulk import runs
from app.passes.bulk.csv_file import MAX_ROWS, CsvError, read_csv
from tests.conftest import csrf_token

HEADER = ["Serial", "Holder", "Seat", "Gate", "E-mail"]
# Each row, and the errors it must get (none for a good row).
ROWS = [
    (["zoe-1", "Zoë Ångström", "A1", "3", "Zoe@Example.com"], []),
    (["li-2", "李雷", "B2", "4", "lilei@example.cn"], []),
    (["", "Random Serial", "C3", "5", ""], []),
    (["bad serial!", "Bad", "D4", "6", "bad@example.com"], ["A serial number is"]),
    (["zoe-1", "Twice", "E5", "7", "twice@example.com"], ["is also on line 2"]),
    (["taken-1", "Taken", "F6", "8", ""], ["A pass with serial number taken-1"]),
    (["no-seat", "Seatless", "", "9", "x@example.com"], ["No value for {{seat}}"]),
    (["bad-mail", "Mail", "G7", "1", "not-an-email"], ["email address is not"]),
    (["semi-1", "Smith; John, Jr.", "H8", "2", ""], []),
    (["extra-1", "Extra", "J9", "3", "", "surplus"], ["quote values"]),
]
GOOD = {
    "zoe-1": ({"holder": "Zoë Ångström", "seat": "A1", "gate": "3"}, "zoe@example.com"),
    "li-2": ({"holder": "李雷", "seat": "B2", "gate": "4"}, "lilei@example.cn"),
    "semi-1": ({"holder": "Smith; John, Jr.", "seat": "H8", "gate": "2"}, None),
}
REFUSED_LINES = [5, 6, 7, 8, 9, 11]


def _csv(rows, delimiter=",", bom=True, encoding="utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + buffer.getvalue()).encode(encoding)


def _upload(client, template_id, content: bytes, filename="guests.csv"):
    path = f"/dashboard/templates/{template_id}/bulk"
    return client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "csv_file": (io.BytesIO(content), filename),
        },
        content_type="multipart/form-data",
    )


def _run(client, import_id, action, email=False):
    page = f"/dashboard/bulk-imports/{import_id}"
    data = {"csrf_token": csrf_token(client, page), "action": action}
    if email:
        data["email_passes"] = "y"
    return client.post(f"{page}/run", data=data)


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _only_import() -> BulkImport:
    return db.session.scalars(select(BulkImport)).one()


def _passes() -> dict[str, Pass]:
    return {p.serial_number: p for p in db.session.scalars(select(Pass))}


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semi", "tab"])
def test_a_csv_creates_exactly_its_good_rows(client, auth, template, delimiter):
    auth.login()
    service.issue_pass(template, {"holder": "Old", "seat": "Z", "gate": "0"}, "taken-1")
    content = _csv([cells for cells, _ in ROWS], delimiter=delimiter)

    uploaded = _upload(client, template.id, content)

    bulk_import = _only_import()
    assert uploaded.status_code == 302
    assert uploaded.headers["Location"] == f"/dashboard/bulk-imports/{bulk_import.id}"
    assert bulk_import.total == len(ROWS)
    # Header names matched the placeholders, ignoring case and the dash.
    assert bulk_import.mapping == {
        "fields": {"gate": "Gate", "holder": "Holder", "seat": "Seat"},
        "serial": "Serial",
        "email": "E-mail",
    }
    preview = _text(client.get(uploaded.headers["Location"]))
    assert "UTF-8" in preview
    assert "<strong>4</strong> good rows" in preview
    assert "<strong>6</strong> with errors" in preview
    assert "Zoë Ångström" in preview and "李雷" in preview
    assert "Create 4 passes" in preview

    response = _run(client, bulk_import.id, "create")

    assert response.status_code == 302
    db.session.expire_all()
    assert (bulk_import.status, bulk_import.accepted, bulk_import.refused) == (
        BULK_FINISHED,
        4,
        6,
    )
    passes = _passes()
    random_serials = set(passes) - set(GOOD) - {"taken-1"}
    assert len(passes) == 5 and len(random_serials) == 1
    random_pass = passes[random_serials.pop()]
    assert re.fullmatch(r"[0-9a-f]{20}", random_pass.serial_number)
    assert random_pass.data == {"holder": "Random Serial", "seat": "C3", "gate": "5"}
    assert random_pass.customer_email is None
    for serial, (data, email) in GOOD.items():
        assert (passes[serial].data, passes[serial].customer_email) == (data, email)
        assert passes[serial].template_id == template.id
    # Each new pass got its own download link.
    linked = db.session.scalars(
        select(DownloadLinkPass.pass_id).join(DownloadLink)
    ).all()
    assert sorted(linked) == sorted(
        p.id for p in passes.values() if p.serial_number != "taken-1"
    )
    refused = {line: errors for line, errors in bulk_import.refused_rows}
    assert sorted(refused) == REFUSED_LINES
    for line, (_cells, expected) in enumerate(ROWS, start=2):
        if expected:
            assert len(refused[line]) == 1, (line, refused[line])
            assert expected[0] in refused[line][0], (line, refused[line])

    page = _text(client.get(f"/dashboard/bulk-imports/{bulk_import.id}"))
    assert "Finished" in page and "6 rows were refused" in page
    assert "The serial number zoe-1 is also on line 2." in page


def test_the_refused_rows_download_as_a_csv_with_their_errors(client, auth, template):
    auth.login()
    service.issue_pass(template, {"holder": "Old", "seat": "Z", "gate": "0"}, "taken-1")
    _upload(client, template.id, _csv([cells for cells, _ in ROWS], delimiter=";"))
    bulk_import = _only_import()
    _run(client, bulk_import.id, "create")

    response = client.get(f"/dashboard/bulk-imports/{bulk_import.id}/refused.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="guests-refused.csv"'
    )
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(
        csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";")
    )
    assert rows[0] == ["line", "errors", *HEADER]
    assert [int(row[0]) for row in rows[1:]] == REFUSED_LINES
    assert rows[1][2:] == ["bad serial!", "Bad", "D4", "6", "bad@example.com"]
    assert rows[-1][2:] == ["extra-1", "Extra", "J9", "3", "", "surplus"]
    assert "No value for {{seat}}." in rows[4][1]


def test_a_dry_run_creates_nothing_then_the_run_creates_the_good_rows(
    client, auth, template
):
    auth.login()
    _upload(client, template.id, _csv([cells for cells, _ in ROWS[:5]]))
    bulk_import = _only_import()

    response = _run(client, bulk_import.id, "dry-run")

    db.session.expire_all()
    assert response.status_code == 302
    assert db.session.scalar(select(func.count(Pass.id))) == 0
    assert db.session.scalar(select(func.count(DownloadLink.id))) == 0
    assert (bulk_import.status, bulk_import.accepted, bulk_import.refused) == (
        BULK_CHECKED,
        3,
        2,
    )
    assert [line for line, _ in bulk_import.refused_rows] == [5, 6]
    page = " ".join(
        _text(client.get(f"/dashboard/bulk-imports/{bulk_import.id}")).split()
    )
    assert "3 would be created, 2 refused. Nothing was created." in page

    _run(client, bulk_import.id, "create")

    assert sorted(_passes()) != [] and {"zoe-1", "li-2"} <= set(_passes())
    assert len(_passes()) == 3
    # Running the same file again creates nothing more.
    again = _run(client, bulk_import.id, "create")
    assert again.status_code == 302
    assert len(_passes()) == 3
    assert "already being issued or was issued" in _text(client.get(again.location))


def test_a_file_not_in_utf_8_is_read_as_windows_1252_and_says_so(
    client, auth, template
):
    auth.login()
    content = _csv([["w-1", "Zoë Ñúñez", "A1", "3", ""]], bom=False, encoding="cp1252")

    _upload(client, template.id, content)
    bulk_import = _only_import()
    page = _text(client.get(f"/dashboard/bulk-imports/{bulk_import.id}"))
    _run(client, bulk_import.id, "create")

    assert "Windows-1252" in page and "not UTF-8" in page
    assert _passes()["w-1"].data["holder"] == "Zoë Ñúñez"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary data"),
        (b"PK\x03\x04" + b"\x00" * 40, "Excel workbook"),
        (b"", "That file is empty."),
        (b"holder,seat,gate\r\n", "no rows under it"),
        (b"holder,Seat,seat\r\nA,1,2\r\n", "names \u201cseat\u201d twice"),
    ],
    ids=["png", "xlsx", "empty", "header-only", "duplicate-header"],
)
def test_a_file_that_is_no_usable_csv_gets_a_clear_error(
    client, auth, template, content, message
):
    auth.login()

    response = _upload(client, template.id, content, filename="guests.png")

    assert response.status_code == 400
    assert message in _text(response)
    assert db.session.scalar(select(func.count(BulkImport.id))) == 0


def test_an_unmapped_placeholder_is_named_and_blocks_the_run(client, auth, template):
    auth.login()
    content = b"Name;Seat;Gate\nAnn;A1;3\n"
    _upload(client, template.id, content)
    bulk_import = _only_import()
    page = f"/dashboard/bulk-imports/{bulk_import.id}"

    shown = _text(client.get(page))
    refused_run = _run(client, bulk_import.id, "create")
    mapped = client.post(
        f"{page}/mapping",
        data={
            "csrf_token": csrf_token(client, page),
            "column-holder": "Name",
            "column-seat": "Seat",
            "column-gate": "Gate",
            "serial": "",
            "email": "",
        },
    )
    _run(client, bulk_import.id, "create")

    assert "Choose the column that fills this placeholder." in shown
    assert refused_run.status_code == 302 and mapped.status_code == 302
    assert [p.data for p in _passes().values()] == [
        {"holder": "Ann", "seat": "A1", "gate": "3"}
    ]


def test_the_preview_is_stored_with_the_mapping_not_made_on_each_view(
    client, auth, template
):
    auth.login()
    _upload(client, template.id, _csv([cells for cells, _ in ROWS[:3]]))
    bulk_import = _only_import()
    page = f"/dashboard/bulk-imports/{bulk_import.id}"
    stored = bulk_import.preview
    # Taken after the upload: the stored preview does not know yet.
    service.issue_pass(template, {"holder": "Old", "seat": "Z", "gate": "0"}, "li-2")

    shown = _text(client.get(page))
    db.session.expire_all()
    kept = bulk_import.preview
    mapped = client.post(
        f"{page}/mapping",
        data={
            "csrf_token": csrf_token(client, page),
            "column-holder": "Holder",
            "column-seat": "Seat",
            "column-gate": "Gate",
            "serial": "Serial",
            "email": "E-mail",
        },
    )
    again = _text(client.get(page))

    assert stored["layout"] == {
        "headers": HEADER,
        "encoding": "UTF-8",
        "delimiter": ",",
        "notices": [],
    }
    assert stored["counts"] == {"good": 3, "bad": 0}
    assert [row["line"] for row in stored["rows"]] == [2, 3, 4]
    assert stored["rows"][1]["data"] == {"holder": "李雷", "seat": "B2", "gate": "4"}
    assert stored["rows"][2]["serial_number"] == ""
    assert kept == stored
    assert "<strong>3</strong> good rows" in shown
    assert mapped.status_code == 302
    assert "<strong>2</strong> good rows" in again
    assert "A pass with serial number li-2 exists." in again


def test_a_mapping_without_a_column_for_a_placeholder_answers_400(
    client, auth, template
):
    auth.login()
    _upload(client, template.id, _csv([["m-1", "Ann", "A1", "3", ""]]))
    bulk_import = _only_import()
    page = f"/dashboard/bulk-imports/{bulk_import.id}"
    before = bulk_import.mapping

    response = client.post(
        f"{page}/mapping",
        data={
            "csrf_token": csrf_token(client, page),
            "column-holder": "Holder",
            "column-seat": "",
            "column-gate": "Gate",
            "serial": "",
            "email": "",
        },
    )
    unknown = client.post(
        f"{page}/mapping",
        data={"csrf_token": csrf_token(client, page), "column-holder": "Nope"},
    )

    assert response.status_code == 400
    assert "Choose the column that fills this placeholder." in _text(response)
    assert unknown.status_code == 400
    db.session.expire_all()
    assert bulk_import.mapping == before


def test_duplicate_serials_and_a_serial_taken_meanwhile(app, template):
    service.issue_pass(template, {"holder": "Old", "seat": "Z", "gate": "0"}, "s-2")
    rows = [
        bulk_rows.PassRow(line, {"holder": "H", "seat": "S", "gate": "G"}, serial)
        for line, serial in [(2, "s-1"), (3, "s-2"), (4, "s-1"), (5, "s-3")]
    ]

    results = bulk_rows.issue_passes(template, rows)

    assert [row.errors for row in results] == [
        [],
        ["A pass with serial number s-2 exists."],
        ["The serial number s-1 is also on line 2."],
        [],
    ]
    assert [row.is_serial_taken for row in results] == [False, True, True, False]
    assert sorted(_passes()) == ["s-1", "s-2", "s-3"]
    # A serial taken between the check and the insert: the chunk falls back to
    # one row at a time and keeps the others.
    issuer = bulk_rows.RowIssuer(template)
    late = [
        bulk_rows.PassRow(6, {"holder": "H", "seat": "S", "gate": "G"}, "s-4"),
        bulk_rows.PassRow(7, {"holder": "H", "seat": "S", "gate": "G"}, "s-5"),
    ]
    checked = issuer.check(late)
    assert [row.errors for row in late] == [[], []]
    service.issue_pass(template, {"holder": "Fast", "seat": "Y", "gate": "1"}, "s-5")
    issuer.create(checked)
    db.session.commit()
    assert late[0].pass_id is not None and late[0].errors == []
    assert (late[1].pass_id, late[1].errors) == (
        None,
        ["A pass with serial number s-5 exists."],
    )
    assert sorted(_passes()) == ["s-1", "s-2", "s-3", "s-4", "s-5"]
    assert _passes()["s-5"].data["holder"] == "Fast"
    # The kept pass got its link.
    assert db.session.scalars(
        select(DownloadLinkPass.pass_id).where(
            DownloadLinkPass.pass_id == late[0].pass_id
        )
    ).all() == [late[0].pass_id]


def test_a_pass_only_checked_never_joins_the_session(app, template):
    rows = [bulk_rows.PassRow(2, {"holder": "H", "seat": "S", "gate": "G"}, "c-1")]

    bulk_rows.check_rows(template, rows)
    db.session.commit()

    assert rows[0].errors == [] and rows[0].pass_id is None
    assert _passes() == {}


def test_a_large_file_runs_in_the_background_with_progress(
    client, auth, template, monkeypatch
):
    monkeypatch.setattr(runs, "INLINE_ROWS", 2)
    auth.login()
    rows = [[f"bg-{n}", f"Guest {n}", "A", "1", ""] for n in range(5)]
    _upload(client, template.id, _csv([*rows, ["bg-0", "Again", "A", "1", ""]]))
    bulk_import = _only_import()

    _run(client, bulk_import.id, "create")
    jobs.join()
    db.session.rollback()  # the job committed in its own session
    progress = client.get(f"/dashboard/bulk-imports/{bulk_import.id}/progress")

    assert progress.json == {
        "status": BULK_FINISHED,
        "dry_run": False,
        "total": 6,
        "done": 6,
        "accepted": 5,
        "refused": 1,
        "finished": True,
    }
    assert sorted(_passes()) == [f"bg-{n}" for n in range(5)]


def test_email_each_pass_sends_its_link_to_its_customer(client, auth, template, smtp):
    auth.login()
    content = _csv(
        [
            ["m-1", "Zoë Ångström", "A1", "3", "zoe@example.com"],
            ["m-2", "李雷", "B2", "4", "lilei@example.cn"],
            ["m-3", "No Mail", "C3", "5", ""],
        ]
    )
    _upload(client, template.id, content)
    bulk_import = _only_import()

    _run(client, bulk_import.id, "create", email=True)
    jobs.join()

    db.session.expire_all()
    batch = db.session.get(MailBatch, bulk_import.mail_batch_id)
    assert (batch.total, batch.sent, batch.failed) == (2, 2, 0)
    assert sorted(m.rcpt_tos[0] for m in smtp.received) == [
        "lilei@example.cn",
        "zoe@example.com",
    ]


def test_another_merchant_cannot_see_or_run_the_import(client, auth, template):
    auth.login()
    _upload(client, template.id, _csv([["o-1", "Ann", "A1", "3", ""]]))
    bulk_import = _only_import()
    auth.logout()
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    token = csrf_token(client, "/dashboard/")
    base = f"/dashboard/bulk-imports/{bulk_import.id}"

    answers = [
        client.get(base).status_code,
        client.get(f"{base}/progress").status_code,
        client.get(f"{base}/refused.csv").status_code,
        client.get(f"/dashboard/templates/{template.id}/bulk").status_code,
        client.post(
            f"{base}/run", data={"csrf_token": token, "action": "create"}
        ).status_code,
        client.post(
            f"{base}/mapping", data={"csrf_token": token, "column-holder": "Holder"}
        ).status_code,
        client.post(
            f"/dashboard/templates/{template.id}/bulk",
            data={"csrf_token": token, "csv_file": (io.BytesIO(b"a\n1\n"), "x.csv")},
            content_type="multipart/form-data",
        ).status_code,
    ]

    assert answers == [404] * 7
    assert db.session.scalar(select(func.count(Pass.id))) == 0


def test_a_run_without_the_csrf_token_is_refused(client, auth, template):
    auth.login()
    _upload(client, template.id, _csv([["c-1", "Ann", "A1", "3", ""]]))
    bulk_import = _only_import()

    response = client.post(
        f"/dashboard/bulk-imports/{bulk_import.id}/run", data={"action": "create"}
    )

    assert response.status_code == 400
    assert db.session.scalar(select(func.count(Pass.id))) == 0


def test_reading_limits_and_other_encodings():
    tab_utf16 = "holder\tseat\n李雷\tA1\n".encode("utf-16")
    too_many = b"holder\n" + b"x\n" * (MAX_ROWS + 1)

    read = read_csv(tab_utf16)

    assert (read.layout.encoding, read.layout.delimiter, read.layout.headers) == (
        "UTF-16",
        "\t",
        ["holder", "seat"],
    )
    assert read.records == [(2, ["李雷", "A1"])]
    with pytest.raises(CsvError, match="more than 50,000 rows"):
        read_csv(too_many)
    with pytest.raises(CsvError, match="larger than 10 MB"):
        read_csv(b"a\n" + b"x" * (10 * 1024 * 1024))
    # A value over several lines keeps the line its record starts on.
    multi = read_csv(b'holder,seat\n"two\nlines",A\n\nB,C\n')
    assert multi.records == [(2, ["two\nlines", "A"]), (5, ["B", "C"])]
