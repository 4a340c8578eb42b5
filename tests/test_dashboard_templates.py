"""Template pages: importing a .pkpass, one template's preview, issuing a pass."""

import dataclasses
import html
import io
import json
import re
import zipfile
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from app.demo import demo_design
from app.devchain import make_development_chain
from app.extensions import db
from app.merchants import create_merchant
from app.models import DownloadLink, Pass, Template
from app.passes import service
from app.passes.bundle import PKPASS_MIME
from tests.bundle_check import verify_bundle
from tests.conftest import SAMPLES, csrf_token

IMPORT = "/dashboard/templates/import"
STYLES = {
    "BoardingPass": "boardingPass",
    "Coupon": "coupon",
    "Event": "eventTicket",
    "Generic": "generic",
    "StoreCard": "storeCard",
}
FIELD_ERROR = re.compile(r'<span class="error" id="([a-z_-]+)-error">([^<]*)</span>')
DOWNLOAD_LINK = re.compile(r"Download link: (https://passline\.test/p/[A-Za-z0-9_-]+)")


def _zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def _import(client, content: bytes, pass_type_id, filename="Ticket.pkpass", name=""):
    """Post the import form with the file and fields as a browser sends them."""
    return client.post(
        IMPORT,
        data={
            "csrf_token": csrf_token(client, IMPORT),
            "pkpass": (io.BytesIO(content), filename),
            "pass_type": str(pass_type_id),
            "name": name,
        },
        content_type="multipart/form-data",
    )


def _field_errors(response) -> dict[str, str]:
    text = response.get_data(as_text=True)
    return {name: html.unescape(message) for name, message in FIELD_ERROR.findall(text)}


def _template_count() -> int:
    return db.session.scalar(select(func.count(Template.id)))


def _pass_count() -> int:
    return db.session.scalar(select(func.count(Pass.id)))


def _issue(client, template_id, **values):
    path = f"/dashboard/templates/{template_id}"
    data = {"csrf_token": csrf_token(client, path)}
    data.update(
        {
            name if name in {"serial", "customer_email"} else f"value-{name}": value
            for name, value in values.items()
        }
    )
    return client.post(f"{path}/passes", data=data)


@pytest.mark.parametrize("sample", sorted(STYLES))
def test_each_apple_sample_imports_through_the_form(client, auth, pass_type, sample):
    auth.login()

    content = (SAMPLES / f"{sample}.pkpass").read_bytes()
    response = _import(client, content, pass_type.id, filename=f"{sample}.pkpass")

    template = db.session.scalars(select(Template)).one()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/templates/{template.id}"
    assert (template.name, template.style) == (sample, STYLES[sample])
    assert (template.merchant_id, template.pass_type_id) == (
        pass_type.merchant_id,
        pass_type.id,
    )
    assert "icon.png" in {image.path for image in template.images}
    assert "passTypeIdentifier" not in template.design
    page = client.get(response.headers["Location"])
    assert f"Template {sample} imported." in html.unescape(page.get_data(as_text=True))


def test_the_typed_name_is_kept_and_the_list_shows_templates(client, auth, issued_pass):
    auth.login()
    event = (SAMPLES / "Event.pkpass").read_bytes()

    _import(client, event, issued_pass.pass_type_id, name="  Jazz night  ")
    text = html.unescape(client.get("/dashboard/templates").get_data(as_text=True))

    names = db.session.scalars(select(Template.name).order_by(Template.id)).all()
    assert names == ["Concert", "Jazz night"]
    rows = re.findall(
        r'<a href="/dashboard/templates/\d+">([^<]+)</a></td>\s*<td>(\w+)</td>'
        r"\s*<td>([^<]+)</td>\s*<td>(\d+)</td>",
        text,
    )
    identifier = issued_pass.pass_type.pass_type_identifier
    assert rows == [
        ("Jazz night", "eventTicket", identifier, "0"),
        ("Concert", "eventTicket", identifier, "1"),
    ]
    assert f'href="{IMPORT}"' in text


REFUSED_DESIGN = json.dumps(
    {
        "formatVersion": 1,
        "organizationName": "Bad Design",
        "description": "A pass Wallet refuses",
        "generic": {},
        "barcodes": [{"format": "PKBarcodeFormatNope", "message": "1"}],
    }
)


@pytest.mark.parametrize(
    ("content", "messages"),
    [
        (b"", ["That file is empty."]),
        (b"just some text", ["That is not a .pkpass file (not a ZIP archive)."]),
        (
            _zip({"icon.png": b"\x89PNG"}),
            ["There is no pass.json at the top of that pass."],
        ),
        (_zip({"pass.json": "{not json"}), ["pass.json is not valid JSON:"]),
        (
            _zip({"pass.json": REFUSED_DESIGN}),
            [
                "each barcode needs a format such as PKBarcodeFormatQR",
                "an icon.png is required",
            ],
        ),
    ],
    ids=["empty", "not-a-zip", "no-pass-json", "invalid-json", "refused-design"],
)
def test_a_bad_upload_is_named_next_to_the_file(
    client, auth, pass_type, content, messages
):
    auth.login()

    response = _import(client, content, pass_type.id)

    assert response.status_code == 200
    errors = _field_errors(response)
    assert set(errors) == {"pkpass"}
    for message in messages:
        assert message in errors["pkpass"]
    assert _template_count() == 0


def test_no_file_chosen_is_named(client, auth, pass_type):
    auth.login()

    response = client.post(
        IMPORT,
        data={"csrf_token": csrf_token(client, IMPORT), "pass_type": pass_type.id},
    )

    assert _field_errors(response) == {"pkpass": "Choose a .pkpass file to import."}
    assert _template_count() == 0


def test_files_wallet_would_refuse_are_skipped_and_listed(client, auth, pass_type):
    auth.login()
    with zipfile.ZipFile(SAMPLES / "Generic.pkpass") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["notes.txt"] = b"made with another tool"

    response = _import(client, _zip(files), pass_type.id, filename="Generic.pkpass")

    template = db.session.scalars(select(Template)).one()
    assert "notes.txt" not in {image.path for image in template.images}
    text = html.unescape(client.get(response.headers["Location"]).get_data(True))
    assert "Files Wallet would not accept were left out: notes.txt." in text


def test_a_merchant_without_a_pass_type_is_sent_to_add_one(client, auth, merchant):
    auth.login()
    event = (SAMPLES / "Event.pkpass").read_bytes()

    page = client.get(IMPORT).get_data(as_text=True)
    response = _import(client, event, "1")

    assert 'href="/dashboard/pass-types/new"' in page
    assert _field_errors(response) == {
        "pass_type": "Add a pass type before importing a design."
    }
    assert _template_count() == 0


def test_another_merchants_pass_type_is_refused(client, auth, pass_type):
    rival = create_merchant("Rival", "rival@other.test", "rival password")
    rival_chain = make_development_chain("pass.test.rival.tickets", "RIVALTEAM1")
    rival_type = service.create_pass_type(rival, rival_chain.identity())
    auth.login()
    event = (SAMPLES / "Event.pkpass").read_bytes()

    page = client.get(IMPORT).get_data(as_text=True)
    response = _import(client, event, rival_type.id)

    assert "pass.test.rival.tickets" not in page
    assert pass_type.pass_type_identifier in page
    assert _field_errors(response) == {"pass_type": "Choose one of your pass types."}
    assert _template_count() == 0


def test_the_template_page_shows_placeholders_and_a_sample_preview(
    client, auth, template
):
    auth.login()

    response = client.get(f"/dashboard/templates/{template.id}")

    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Template Concert" in text
    assert pass_type_text(template) in text
    for name in ("holder", "seat", "gate"):
        assert f"<code>{{{{{name}}}}}</code>" in text
        assert f'name="value-{name}"' in text
    assert '<span class="pass-logo-text">Passline Live</span>' in text
    assert re.search(
        r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="Barcode', text
    )


def pass_type_text(template) -> str:
    return f"<dt>Pass type</dt><dd>{template.pass_type.pass_type_identifier}</dd>"


def test_issuing_makes_a_pass_with_a_link_that_downloads_a_signed_bundle(
    client, auth, template, chain_files, tmp_path
):
    auth.login()

    response = _issue(
        client, template.id, holder="Bo Lind", seat="F 7", gate="2", serial="T-0001"
    )

    issued = db.session.scalars(select(Pass)).one()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/passes/{issued.id}"
    assert (issued.serial_number, issued.template_id) == ("T-0001", template.id)
    assert issued.data == {"holder": "Bo Lind", "seat": "F 7", "gate": "2"}
    link = db.session.scalars(select(DownloadLink)).one()
    assert link.passes == [issued]

    page = html.unescape(client.get(response.headers["Location"]).get_data(True))
    url = DOWNLOAD_LINK.search(page).group(1)
    assert url == f"https://passline.test/p/{link.token}"
    download = client.get(urlsplit(url).path + "/pass.pkpass")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == PKPASS_MIME
    files = verify_bundle(download.data, chain_files / "root.pem", tmp_path)
    pass_json = json.loads(files["pass.json"])
    assert pass_json["serialNumber"] == "T-0001"
    assert pass_json["authenticationToken"] == issued.authentication_token
    holder = pass_json["eventTicket"]["secondaryFields"][0]
    assert holder["value"] == "Bo Lind"


def test_an_empty_serial_gets_a_random_one(client, auth, template):
    auth.login()

    _issue(client, template.id, holder="Ann", seat="A1", gate="3")

    serial = db.session.scalars(select(Pass.serial_number)).one()
    assert re.fullmatch(r"[0-9a-f]{20}", serial)


def test_issuing_with_a_customer_email_keeps_it_on_the_pass(client, auth, template):
    auth.login()
    form = client.get(f"/dashboard/templates/{template.id}").get_data(as_text=True)
    email_input = re.search(r'<input [^>]*id="customer_email"[^>]*>', form).group()
    assert 'type="email"' in email_input
    assert 'name="customer_email"' in email_input

    response = _issue(
        client,
        template.id,
        holder="Ann",
        seat="A1",
        gate="3",
        serial="MAIL-1",
        customer_email="  Ann.Lee@Venue.example ",
    )

    issued = db.session.scalars(select(Pass)).one()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/passes/{issued.id}"
    assert issued.customer_email == "ann.lee@venue.example"
    page = html.unescape(client.get(response.headers["Location"]).get_data(True))
    assert "<dt>Customer email</dt><dd>ann.lee@venue.example</dd>" in page


def test_the_customer_email_is_optional(client, auth, template):
    auth.login()

    response = _issue(
        client, template.id, holder="Ann", seat="A1", gate="3", customer_email="  "
    )

    issued = db.session.scalars(select(Pass)).one()
    assert response.status_code == 302
    assert issued.customer_email is None
    page = html.unescape(client.get(response.headers["Location"]).get_data(True))
    assert "<dt>Customer email</dt><dd>none given</dd>" in page


@pytest.fixture
def dated_template(pass_type):
    """A template whose relevant date comes from pass data."""
    design = demo_design()
    design.design["relevantDate"] = "{{doors}}"
    return service.create_template(pass_type, "Dated", design)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"serial": "has spaces"}, "serial", "Use 1 to 64 letters, digits"),
        ({"serial": "taken"}, "serial", "A pass with serial number taken exists."),
        ({"holder": "Ann\x07"}, "value-holder", "Use printable characters only."),
        ({"doors": "next Friday"}, None, "relevantDate"),
        (
            {"customer_email": "cy@"},
            "customer_email",
            "There must be something after the @-sign.",
        ),
        (
            {"customer_email": "cy at venue.example"},
            "customer_email",
            "An email address must have an @-sign.",
        ),
    ],
    ids=[
        "bad-serial",
        "serial-taken",
        "control-character",
        "refused-by-wallet",
        "email-without-domain",
        "email-without-at-sign",
    ],
)
def test_bad_data_is_named_and_nothing_is_stored(
    client, auth, dated_template, values, field, message
):
    service.issue_pass(
        dated_template,
        {"holder": "Ann", "seat": "A1", "gate": "3", "doors": "2030-01-01T20:00:00Z"},
        serial_number="taken",
    )
    auth.login()
    good = {"holder": "Cy", "seat": "B2", "gate": "4", "doors": "2030-01-01T20:00:00Z"}

    response = _issue(client, dated_template.id, **{**good, **values})

    assert response.status_code == 200
    if field is None:
        text = html.unescape(response.get_data(as_text=True))
        assert re.search(rf'<p class="error">[^<]*{message}[^<]*</p>', text)
    else:
        assert message in _field_errors(response)[field]
    assert db.session.scalars(select(Pass.serial_number)).all() == ["taken"]
    assert db.session.scalar(select(func.count(DownloadLink.id))) == 0


def test_another_merchant_gets_404_for_a_template(client, auth, template):
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    token = csrf_token(client, "/dashboard/templates")

    page = client.get(f"/dashboard/templates/{template.id}")
    issue = client.post(
        f"/dashboard/templates/{template.id}/passes",
        data={"csrf_token": token, "value-holder": "X", "value-seat": "Y"},
    )

    assert (page.status_code, issue.status_code) == (404, 404)
    assert "Concert" not in client.get("/dashboard/templates").get_data(True)
    assert _pass_count() == 0


def test_posts_without_a_csrf_token_are_refused(client, auth, template):
    auth.login()
    event = (SAMPLES / "Event.pkpass").read_bytes()

    imported = client.post(
        IMPORT,
        data={
            "pkpass": (io.BytesIO(event), "Event.pkpass"),
            "pass_type": str(template.pass_type_id),
        },
        content_type="multipart/form-data",
    )
    issued = client.post(
        f"/dashboard/templates/{template.id}/passes",
        data={"value-holder": "A", "value-seat": "B", "value-gate": "C"},
    )

    assert (imported.status_code, issued.status_code) == (400, 400)
    assert (_template_count(), _pass_count()) == (1, 0)


# Issuing with a barcode made from the pass's data


def _member_template(pass_type, encoding="iso-8859-1"):
    """A template whose barcode holds the pass's member number."""
    imported = demo_design()
    design = dict(imported.design)
    design["barcodes"] = [
        {
            "format": "PKBarcodeFormatQR",
            "message": "{{member}}",
            "messageEncoding": encoding,
        }
    ]
    return service.create_template(
        pass_type, "Members", dataclasses.replace(imported, design=design)
    )


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("", "The barcode cannot be made from this data: The barcode has no message"),
        (
            "会员-🍕-42",
            "The barcode cannot be made from this data: The message has characters "
            "iso-8859-1 cannot hold: '会员'. Type other characters, or choose the "
            "utf-8 encoding",
        ),
    ],
)
def test_issuing_with_an_unusable_barcode_stores_nothing(
    client, auth, pass_type, member, message
):
    template = _member_template(pass_type)
    auth.login()

    response = _issue(
        client, template.id, member=member, holder="Ann", seat="A1", gate="3"
    )

    text = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert f'<p class="error">{message}' in text
    assert "issued" not in text
    assert _pass_count() == 0


def test_a_utf8_barcode_takes_any_characters(client, auth, pass_type):
    template = _member_template(pass_type, encoding="utf-8")
    auth.login()

    response = _issue(
        client, template.id, member="会员-🍕-42", holder="Ann", seat="A1", gate="3"
    )

    assert response.status_code == 302
    [issued] = db.session.scalars(select(Pass)).all()
    assert issued.data["member"] == "会员-🍕-42"
