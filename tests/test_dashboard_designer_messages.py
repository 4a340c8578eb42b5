"""The designer's checks and messages: real dates, the form's own labels, styles."""

import html
import re

import pytest
from sqlalchemy import func, select

from app.dashboard.designer import (
    DesignEditError,
    apply_design_edits,
    design_form_values,
)
from app.extensions import db
from app.models import AuditEntry, Template
from app.passes import service
from app.passes.importer import import_design
from app.passes.validation import PassValidationError, validate_pass
from tests.conftest import SAMPLES, csrf_token


def _form(template, **changes):
    return {**design_form_values(template.design, template.localizations), **changes}


def _save(client, template, **changes):
    path = f"/dashboard/templates/{template.id}"
    data = _form(template, csrf_token=csrf_token(client, path), **changes)
    return client.post(f"{path}/design", data=data)


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _field_error(text: str, name: str) -> str:
    match = re.search(rf'id="{re.escape(name)}-error">(.*?)</span>', text, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else ""


def _updates() -> int:
    return db.session.scalar(
        select(func.count(AuditEntry.id)).filter_by(action="template.updated")
    )


# Impossible dates


@pytest.mark.parametrize(
    ("name", "value", "label"),
    [
        ("expirationDate", "2027-13-45T99:00:00+01:00", "Expiration date"),
        ("relevantDate", "2027-02-30T10:00:00+01:00", "Relevant date"),
    ],
)
def test_an_impossible_date_is_refused_next_to_its_field(
    client, auth, template, name, value, label
):
    design = dict(template.design)
    auth.login()

    response = _save(client, template, **{name: value})

    text = _text(response)
    assert response.status_code == 200
    assert _field_error(text, name).startswith(
        f"{label} {value} is not a real date and time:"
    )
    db.session.expire_all()
    assert db.session.get(Template, template.id).design == design
    assert _updates() == 0


def test_validation_refuses_impossible_dates_on_every_path():
    pass_json = {
        "formatVersion": 1,
        "passTypeIdentifier": "pass.test",
        "serialNumber": "1",
        "teamIdentifier": "T",
        "organizationName": "O",
        "description": "D",
        "generic": {
            "primaryFields": [
                {"key": "d", "value": "2027-04-31T10:00:00Z", "dateStyle": "x"}
            ]
        },
        "relevantDate": "2027-02-30T10:00:00+01:00",
        "expirationDate": "2027-12-01T24:00:00+01:00",
        "relevantDates": [{"startDate": "2027-06-31T10:00:00Z"}],
    }

    with pytest.raises(PassValidationError) as caught:
        validate_pass(pass_json, ["icon.png"])

    assert caught.value.errors == [
        "relevantDate 2027-02-30T10:00:00+01:00 is not a real date and time: "
        "day is out of range for month",
        "expirationDate 2027-12-01T24:00:00+01:00 is not a real date and time: "
        "hour must be in 0..23",
        "relevantDates startDate must be a W3C date-time",
        "field 'd' has a date style, so its value must be a date",
    ]


def test_an_expiration_before_the_relevant_date_is_refused(client, auth, template):
    auth.login()

    response = _save(
        client,
        template,
        relevantDate="2027-06-12T19:30+02:00",
        expirationDate="2027-06-12T10:00+02:00",
    )

    assert response.status_code == 200
    assert _field_error(_text(response), "expirationDate") == (
        "Expiration date 2027-06-12T10:00:00+02:00 is earlier than Relevant date "
        "2027-06-12T19:30:00+02:00: the pass would expire before it is relevant"
    )
    db.session.expire_all()
    assert "expirationDate" not in db.session.get(Template, template.id).design


def test_the_date_order_is_not_checked_against_a_placeholder(template):
    values = _form(
        template, relevantDate="{{doors}}", expirationDate="2020-01-01T10:00+00:00"
    )

    edited = apply_design_edits(template.design, values)

    assert (edited["relevantDate"], edited["expirationDate"]) == (
        "{{doors}}",
        "2020-01-01T10:00:00+00:00",
    )


def test_an_expiration_after_the_relevant_date_is_saved(client, auth, template):
    auth.login()

    response = _save(client, template, expirationDate="2027-06-13T04:00+02:00")

    assert response.status_code == 302
    db.session.expire_all()
    design = db.session.get(Template, template.id).design
    assert design["expirationDate"] == "2027-06-13T04:00:00+02:00"


# Messages in the form's words, each shown once


def test_designer_messages_use_the_form_labels(template):
    values = _form(
        template, foregroundColor="red", relevantDate="friday", labelColor="blue"
    )

    with pytest.raises(DesignEditError) as caught:
        apply_design_edits(template.design, values)

    assert caught.value.fields == {
        "foregroundColor": "Text color must be a color such as #1a2b3c",
        "labelColor": "Label color must be a color such as #1a2b3c",
        "relevantDate": "Relevant date must be a date and time with its offset "
        "from UTC, like 2026-12-24T19:30+01:00, or a {{placeholder}}",
    }


def test_each_error_shows_once_next_to_its_field_with_a_summary(client, auth, template):
    auth.login()

    response = _save(
        client,
        template,
        organizationName="",
        foregroundColor="not a color",
        **{"backFields-1-label": "Terms", "backFields-1-value": "No refunds"},
    )

    text = _text(response)
    assert response.status_code == 200
    assert _field_error(text, "organizationName") == "Organization name is required"
    assert _field_error(text, "foregroundColor") == (
        "Text color must be a color such as #1a2b3c"
    )
    assert _field_error(text, "backFields-1-key") == (
        "a new field needs a key, such as seat or gate"
    )
    for message in (
        "Organization name is required",
        "Text color must be a color such as #1a2b3c",
        "a new field needs a key, such as seat or gate",
    ):
        assert text.count(message) == 1, message
    assert "organizationName is required" not in text
    assert "foregroundColor must" not in text
    assert "3 problems, shown next to their fields." in text
    db.session.expire_all()
    assert db.session.get(Template, template.id).design["organizationName"] == (
        "Passline Live"
    )


def test_a_problem_without_a_field_is_listed_in_the_summary(client, auth, template):
    auth.login()

    response = _save(
        client,
        template,
        **{
            "secondaryFields-2-key": "holder",
            "secondaryFields-2-label": "AGAIN",
            "secondaryFields-2-value": "x",
        },
    )

    text = _text(response)
    assert "1 problem:" in text
    assert text.count("field key 'holder' is used twice") == 1


# Changing the style with images the new style cannot show


def test_changing_the_style_names_the_images_to_remove(client, auth, pass_type):
    template = service.create_template(
        pass_type, "Event", import_design((SAMPLES / "Event.pkpass").read_bytes())
    )
    design = dict(template.design)
    auth.login()

    response = _save(client, template, style="boardingPass")

    text = _text(response)
    assert response.status_code == 200
    assert _field_error(text, "style") == (
        "A boarding pass pass cannot show the background and thumbnail images this "
        "template has: remove them on the images page, then change the style. "
        "Open the images page"
    )
    assert f'<a href="/dashboard/templates/{template.id}/images">' in text
    assert "cannot show a background image" not in text
    db.session.expire_all()
    assert db.session.get(Template, template.id).design == design


# Select options and the barcode's encoding


def test_select_options_read_without_wallet_prefixes(client, auth, template):
    auth.login()

    text = client.get(f"/dashboard/templates/{template.id}").get_data(as_text=True)

    for value, label in (
        ("PKBarcodeFormatPDF417", "PDF417"),
        ("PKBarcodeFormatQR", "QR"),
        ("PKDateStyleShort", "Short"),
        ("PKDateStyleMedium", "Medium"),
        ("PKNumberStyleSpellOut", "Spell out"),
        ("PKTextAlignmentCenter", "Center"),
        ("PKTransitTypeAir", "Air"),
        ("boardingPass", "Boarding pass"),
    ):
        assert re.search(rf'<option value="{value}"( selected)?>{label}</option>', text)
    assert "BarcodeFormat" not in re.sub(r'value="[^"]*"', "", text)
    assert ">DateStyle" not in text


def test_the_barcode_encoding_can_be_switched_to_utf8(client, auth, template):
    auth.login()
    page = client.get(f"/dashboard/templates/{template.id}").get_data(as_text=True)
    assert '<option value="iso-8859-1" selected>iso-8859-1</option>' in page
    assert '<option value="utf-8">utf-8</option>' in page

    response = _save(client, template, **{"barcode-messageEncoding": "utf-8"})

    assert response.status_code == 302
    db.session.expire_all()
    barcode = db.session.get(Template, template.id).design["barcodes"][0]
    assert barcode["messageEncoding"] == "utf-8"


def test_an_unknown_barcode_encoding_is_refused(template):
    values = _form(template, **{"barcode-messageEncoding": "ebcdic"})

    with pytest.raises(DesignEditError) as caught:
        apply_design_edits(template.design, values)

    assert caught.value.fields == {
        "barcode-messageEncoding": "the barcode's encoding must be iso-8859-1 or utf-8"
    }
