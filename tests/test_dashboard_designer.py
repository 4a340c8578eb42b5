"""The template designer: form values, saving a design, the live preview."""

import html

import pytest
from sqlalchemy import func, select

from app import jobs
from app.dashboard.designer import (
    DesignEditError,
    apply_design_edits,
    design_form_values,
)
from app.extensions import db
from app.merchants import create_merchant
from app.models import AuditEntry, Template
from app.passes.importer import import_design
from tests.conftest import SAMPLES, csrf_token

DEVICE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PUSH_TOKEN = "ab" * 32


@pytest.fixture
def event_design():
    return import_design((SAMPLES / "Event.pkpass").read_bytes()).design


def _register(client, pass_):
    """Register a device for the pass through the Wallet web service."""
    response = client.post(
        f"/passkit/v1/devices/{DEVICE}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": PUSH_TOKEN},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


def _form(template, **changes):
    """Return the designer form as the page shows it, with some values changed."""
    return {**design_form_values(template.design), **changes}


def test_form_values_of_apples_event_sample(event_design):
    values = design_form_values(event_design)

    assert values["organizationName"] == "Apple Inc."
    assert values["foregroundColor"] == "#ffffff"
    assert values["backgroundColor"] == "#3c414c"
    assert values["primaryFields-0-label"] == "EVENT"
    assert values["secondaryFields-0-value"] == "Moscone West"
    assert values["barcode-format"] == "PKBarcodeFormatPDF417"
    assert values["barcode-message"] == "123456789"


def test_unchanged_form_gives_back_the_same_design(event_design):
    again = apply_design_edits(event_design, design_form_values(event_design))

    # No labelColor in the sample: the color input's default adds none.
    assert again == event_design
    assert "labelColor" not in again


def test_edits_land_in_a_new_design(event_design):
    original = repr(event_design)
    values = {
        **design_form_values(event_design),
        "backgroundColor": "#0a141e",
        "labelColor": "#FF8000",
        "primaryFields-0-label": "SHOW",
        "secondaryFields-0-value": "Hall B",
        "secondaryFields-0-changeMessage": "Now in %@",
        "secondaryFields-0-textAlignment": "PKTextAlignmentRight",
        "barcode-format": "PKBarcodeFormatQR",
        "barcode-altText": "Ticket 123456789",
    }

    edited = apply_design_edits(event_design, values)

    assert repr(event_design) == original
    assert edited["backgroundColor"] == "rgb(10, 20, 30)"
    assert edited["labelColor"] == "rgb(255, 128, 0)"
    assert edited["eventTicket"]["primaryFields"][0]["label"] == "SHOW"
    assert edited["eventTicket"]["secondaryFields"][0] == {
        "key": "loc",
        "label": "LOCATION",
        "value": "Hall B",
        "changeMessage": "Now in %@",
        "textAlignment": "PKTextAlignmentRight",
    }
    assert edited["barcodes"][0]["format"] == "PKBarcodeFormatQR"
    assert edited["barcodes"][0]["altText"] == "Ticket 123456789"
    back = design_form_values(edited)
    assert (back["backgroundColor"], back["labelColor"]) == ("#0a141e", "#ff8000")
    assert back["primaryFields-0-label"] == "SHOW"


def test_bad_edits_are_listed_and_the_rest_kept(event_design):
    values = {
        **design_form_values(event_design),
        "foregroundColor": "red",
        "barcode-format": "PKBarcodeFormatEAN13",
        "primaryFields-0-label": "SHOW",
    }

    with pytest.raises(DesignEditError) as caught:
        apply_design_edits(event_design, values)

    assert caught.value.errors == [
        "foregroundColor must be a color such as #1a2b3c",
        "the barcode format is not one Wallet knows",
    ]
    assert caught.value.design["foregroundColor"] == "rgb(255, 255, 255)"
    event = caught.value.design["eventTicket"]
    assert event["primaryFields"][0]["label"] == "SHOW"


def test_saving_stores_the_design_and_pushes(client, auth, issued_pass, apns):
    template = issued_pass.template
    _register(client, issued_pass)
    before = issued_pass.update_tag
    auth.login()
    path = f"/dashboard/templates/{template.id}"

    response = client.post(
        f"{path}/design",
        data=_form(
            template,
            **{
                "secondaryFields-0-label": "GUEST",
                "backgroundColor": "#102030",
                "csrf_token": csrf_token(client, path),
            },
        ),
    )

    assert (response.status_code, response.headers["Location"]) == (302, path)
    db.session.expire_all()
    assert template.design["backgroundColor"] == "rgb(16, 32, 48)"
    assert template.design["eventTicket"]["secondaryFields"][0]["label"] == "GUEST"
    assert issued_pass.update_tag > before
    entry = db.session.scalars(
        select(AuditEntry).filter_by(action="template.updated")
    ).one()
    assert (entry.subject, entry.merchant_id) == ("Concert", template.merchant_id)
    jobs.join()
    assert [r.token for r in apns.wait_for(1)] == [PUSH_TOKEN]
    text = html.unescape(client.get(path).get_data(as_text=True))
    assert "Design saved. 1 passes are being updated on their devices." in text
    assert 'value="GUEST"' in text


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("foregroundColor", "#12345", "foregroundColor must be a color such as"),
        (
            "auxiliaryFields-0-changeMessage",
            "Gate changed",
            "changeMessage of field 'gate' must contain %@",
        ),
    ],
)
def test_invalid_design_shows_the_error_and_stores_nothing(
    client, auth, issued_pass, apns, name, value, message
):
    template = issued_pass.template
    design, tag = dict(template.design), issued_pass.update_tag
    auth.login()
    path = f"/dashboard/templates/{template.id}"

    response = client.post(
        f"{path}/design",
        data=_form(template, **{name: value, "csrf_token": csrf_token(client, path)}),
    )

    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    assert message in text
    assert f'value="{value}"' in text
    db.session.expire_all()
    assert (template.design, issued_pass.update_tag) == (design, tag)
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).filter_by(action="template.updated")
        )
        == 0
    )
    jobs.join()
    assert apns.requests == []


def test_preview_draws_the_edits_without_storing(client, auth, template):
    design = dict(template.design)
    auth.login()
    path = f"/dashboard/templates/{template.id}"
    token = csrf_token(client, path)

    response = client.post(
        f"{path}/preview",
        data=_form(
            template, **{"primaryFields-0-label": "HEADLINER", "labelColor": "#00ff80"}
        ),
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert text.lstrip().startswith('<div class="pass-preview')
    assert "HEADLINER" in text
    assert "--pass-label: rgb(0, 255, 128)" in text
    assert "<body" not in text and "design-errors" not in text
    db.session.expire_all()
    assert template.design == design


def test_preview_of_bad_input_lists_errors(client, auth, template):
    auth.login()
    path = f"/dashboard/templates/{template.id}"
    token = csrf_token(client, path)

    response = client.post(
        f"{path}/preview",
        data={
            "backgroundColor": "not a color",
            "primaryFields-0-label": "HEADLINER",
            "auxiliaryFields-0-changeMessage": "no marker",
            "barcode-format": "nonsense",
            "primaryFields-99-label": "ignored",
        },
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    assert "HEADLINER" in text
    assert "backgroundColor must be a color such as #1a2b3c" in text
    assert "the barcode format is not one Wallet knows" in text
    assert "changeMessage of field 'gate' must contain %@" in text


def test_another_merchant_gets_404(client, auth, template):
    design = dict(template.design)
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    token = csrf_token(client, "/dashboard/templates")
    path = f"/dashboard/templates/{template.id}"
    data = _form(template, **{"primaryFields-0-label": "Stolen"})

    save = client.post(f"{path}/design", data={**data, "csrf_token": token})
    preview = client.post(f"{path}/preview", data=data, headers={"X-CSRFToken": token})

    assert (save.status_code, preview.status_code) == (404, 404)
    db.session.expire_all()
    assert template.design == design


def test_posts_without_a_csrf_token_are_refused(client, auth, template):
    design = dict(template.design)
    auth.login()
    path = f"/dashboard/templates/{template.id}"
    data = _form(template, **{"primaryFields-0-label": "Forged"})

    save = client.post(f"{path}/design", data=data)
    preview = client.post(f"{path}/preview", data=data)

    assert (save.status_code, preview.status_code) == (400, 400)
    assert "CSRF" in save.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Template, template.id).design == design
