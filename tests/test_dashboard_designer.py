"""The template designer: form values, saving a design, the live preview."""

import html
import re

import pytest
from sqlalchemy import func, select

from app import jobs
from app.dashboard.designer import (
    DesignEditError,
    apply_design_edits,
    apply_string_edits,
    design_fields,
    design_form_values,
    string_rows,
)
from app.extensions import db
from app.merchants import create_merchant
from app.models import AuditEntry, SignedBundle, Template, TemplateUpdate
from app.passes import service
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


def _latest_update(template):
    return db.session.scalars(
        select(TemplateUpdate)
        .filter_by(template_id=template.id)
        .order_by(TemplateUpdate.id.desc())
    ).first()


def _form(template, **changes):
    """Return the designer form as the page shows it, with some values changed."""
    return {**design_form_values(template.design, template.localizations), **changes}


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
        "Text color must be a color such as #1a2b3c",
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
    assert "Design saved. 1 passes with devices are being re-signed and pushed" in text
    assert 'value="GUEST"' in text
    # The rollout signed the pass for the device that is about to fetch it.
    stored = db.session.get(SignedBundle, issued_pass.id)
    assert stored is not None and stored.update_tag == issued_pass.update_tag
    progress = client.get(f"{path}/updates/{_latest_update(template).id}")
    assert progress.get_json() == {
        "total": 1,
        "done": 1,
        "sent": 1,
        "failed": 0,
        "removed": 0,
        "finished": True,
    }
    assert 'data-progress="done">1</span> of <span data-progress="total">1<' in text


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("foregroundColor", "#12345", "Text color must be a color such as"),
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
            "primaryFields-99-label": "no key given",
        },
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    assert "HEADLINER" in text
    assert "Background color must be a color such as #1a2b3c" in text
    assert "the barcode format is not one Wallet knows" in text
    assert "changeMessage of field 'gate' must contain %@" in text
    assert "a new field needs a key, such as seat or gate" in text


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


def test_changing_the_style_moves_the_fields(event_design):
    values = {**design_form_values(event_design), "style": "boardingPass"}
    values["transitType"] = "PKTransitTypeTrain"

    edited = apply_design_edits(event_design, values)

    assert "eventTicket" not in edited
    assert edited["boardingPass"]["transitType"] == "PKTransitTypeTrain"
    assert (
        edited["boardingPass"]["primaryFields"]
        == (event_design["eventTicket"]["primaryFields"])
    )
    # Back to an event ticket: the transit type goes, as Wallet would ignore it.
    again = apply_design_edits(
        edited, {**design_form_values(edited), "style": "eventTicket"}
    )
    assert again["eventTicket"] == event_design["eventTicket"]


def test_a_filled_blank_row_adds_a_field_and_remove_drops_one(event_design):
    groups = dict(design_fields(event_design))
    blank = groups["auxiliaryFields"][-1][0]
    values = {
        **design_form_values(event_design),
        f"auxiliaryFields-{blank}-key": "doors",
        f"auxiliaryFields-{blank}-label": "DOORS",
        f"auxiliaryFields-{blank}-value": "2026-12-24T19:30+01:00",
        f"auxiliaryFields-{blank}-timeStyle": "PKDateStyleShort",
        "secondaryFields-0-remove": "1",
        "primaryFields-0-numberStyle": "PKNumberStyleSpellOut",
    }

    edited = apply_design_edits(event_design, values)

    event = edited["eventTicket"]
    assert event["auxiliaryFields"][-1] == {
        "key": "doors",
        "label": "DOORS",
        "value": "2026-12-24T19:30:00+01:00",
        "timeStyle": "PKDateStyleShort",
    }
    assert [f["key"] for f in event.get("secondaryFields", [])] == [
        f["key"] for f in event_design["eventTicket"]["secondaryFields"][1:]
    ]
    assert event["primaryFields"][0]["numberStyle"] == "PKNumberStyleSpellOut"


def test_new_field_rows_are_checked(event_design):
    taken = event_design["eventTicket"]["primaryFields"][0]["key"]
    blank = dict(design_fields(event_design))["headerFields"][-1][0]
    prefix = f"headerFields-{blank}-"
    values = {
        **design_form_values(event_design),
        prefix + "key": taken,
        prefix + "value": "12.5",
        prefix + "currencyCode": "euro",
        prefix + "dateStyle": "PKDateStyleHuge",
    }

    with pytest.raises(DesignEditError) as caught:
        apply_design_edits(event_design, values)

    fields = caught.value.fields
    assert fields[prefix + "currencyCode"] == (
        f"currency of field {taken!r} must be a code such as EUR or USD"
    )
    assert fields[prefix + "dateStyle"] == (
        f"dateStyle of field {taken!r} is not one Wallet knows"
    )
    assert f"field key {taken!r} is used twice; each field needs its own" in (
        caught.value.errors
    )


def test_dates_and_locations(event_design):
    values = {
        **design_form_values(event_design),
        "relevantDate": "2026-12-24T19:30+01:00",
        "expirationDate": "{{ends}}",
        "location-0-relevantText": "Nearly there",
        "location-1-remove": "1",
        "location-2-latitude": "48.8566",
        "location-2-longitude": "2.3522",
    }

    edited = apply_design_edits(event_design, values)

    assert edited["relevantDate"] == "2026-12-24T19:30:00+01:00"
    assert edited["expirationDate"] == "{{ends}}"
    first = event_design["locations"][0]
    assert edited["locations"] == [
        {**first, "relevantText": "Nearly there"},
        {"latitude": 48.8566, "longitude": 2.3522},
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("relevantDate", "next friday", "Relevant date must be a date and time"),
        ("location-0-latitude", "91", "a location needs a latitude between -90"),
        ("location-0-longitude", "east", "a location needs a longitude between -180"),
        ("style", "poster", "poster is not a pass style"),
    ],
)
def test_bad_dates_locations_and_styles(event_design, name, value, message):
    values = {**design_form_values(event_design), name: value}

    with pytest.raises(DesignEditError) as caught:
        apply_design_edits(event_design, values)

    assert caught.value.fields[name].startswith(message)


def test_localized_strings_rows():
    strings = {"fr": {"EVENT": "ÉVÉNEMENT", "SEAT": "PLACE"}}
    values = design_form_values({}, strings)
    assert string_rows(strings) == [
        ("fr", "EVENT", "ÉVÉNEMENT"),
        ("fr", "SEAT", "PLACE"),
    ]
    values.update(
        {
            "string-1-remove": "1",
            "string-2-lang": "de",
            "string-2-key": "EVENT",
            "string-2-value": "VERANSTALTUNG",
        }
    )

    assert apply_string_edits(strings, values) == {
        "fr": {"EVENT": "ÉVÉNEMENT"},
        "de": {"EVENT": "VERANSTALTUNG"},
    }
    # A form without string rows (an older page, say) leaves them alone.
    assert apply_string_edits(strings, {"organizationName": "x"}) == strings

    with pytest.raises(DesignEditError) as caught:
        apply_string_edits(strings, {**values, "string-2-lang": "German"})
    assert caught.value.fields == {
        "string-2-lang": "German is not a language code such as en"
    }


def test_saving_strings_and_previewing_a_language(client, auth, template):
    auth.login()
    path = f"/dashboard/templates/{template.id}"
    token = csrf_token(client, path)
    label = template.design["eventTicket"]["secondaryFields"][0]["label"]
    before = {
        language: dict(table) for language, table in template.localizations.items()
    }
    blank = len(string_rows(template.localizations))
    form = _form(
        template,
        **{
            f"string-{blank}-lang": "it",
            f"string-{blank}-key": label,
            f"string-{blank}-value": "TITOLARE",
        },
    )

    saved = client.post(f"{path}/design", data={**form, "csrf_token": token})

    assert saved.status_code == 302
    db.session.expire_all()
    assert template.localizations == {**before, "it": {label: "TITOLARE"}}
    page = client.get(path).get_data(as_text=True)
    assert '<option value="it">it</option>' in page
    italian = client.post(
        f"{path}/preview",
        data={**_form(template), "preview-language": "it"},
        headers={"X-CSRFToken": token},
    ).get_data(as_text=True)
    assert "TITOLARE" in italian and label not in italian
    own = client.post(
        f"{path}/preview", data=_form(template), headers={"X-CSRFToken": token}
    ).get_data(as_text=True)
    assert label in own and "TITOLARE" not in own


def test_a_field_error_shows_next_to_its_input(client, auth, issued_pass):
    template = issued_pass.template
    auth.login()
    path = f"/dashboard/templates/{template.id}"

    response = client.post(
        f"{path}/design",
        data=_form(
            template,
            **{"expirationDate": "soon", "csrf_token": csrf_token(client, path)},
        ),
    )

    assert response.status_code == 200
    text = html.unescape(response.get_data(as_text=True))
    assert 'id="design-expirationDate" name="expirationDate" value="soon"' in text
    assert 'aria-describedby="expirationDate-error"' in text
    assert (
        '<span class="error" id="expirationDate-error">Expiration date must be a date'
        in text
    )
    db.session.expire_all()
    assert "expirationDate" not in template.design


def test_progress_of_a_template_update_with_many_passes(client, auth, template, apns):
    passes = [
        service.issue_pass(template, {"holder": f"Guest {n}", "seat": "A", "gate": "1"})
        for n in range(5)
    ]
    for n, pass_ in enumerate(passes[:3]):
        response = client.post(
            f"/passkit/v1/devices/{DEVICE[:-2]}{n:02d}/registrations/"
            f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
            json={"pushToken": f"{n:02d}" * 32},
            headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
        )
        assert response.status_code == 201
    apns.respond("01" * 32, (410, "Unregistered"))
    apns.respond("02" * 32, (400, "DeviceTokenNotForTopic"))
    auth.login()

    update = service.update_template_design(template, template.design)

    jobs.join()
    db.session.expire_all()
    assert (update.total, update.done) == (3, 3)
    assert update.finished_at is not None
    progress = client.get(f"/dashboard/templates/{template.id}/updates/{update.id}")
    assert progress.get_json() == {
        "total": 3,
        "done": 3,
        "sent": 1,
        "failed": 1,
        "removed": 1,
        "finished": True,
    }
    tags = {pass_.update_tag for pass_ in passes}
    assert tags == {update.update_tag}


def test_progress_of_another_merchants_update_is_404(client, auth, template):
    update = service.update_template_design(template, template.design)
    jobs.join()
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")

    response = client.get(f"/dashboard/templates/{template.id}/updates/{update.id}")

    assert response.status_code == 404


def test_a_placeholder_added_later_shows_empty_on_older_passes(
    client, auth, issued_pass, apns
):
    template = issued_pass.template
    _register(client, issued_pass)
    auth.login()
    path = f"/dashboard/templates/{template.id}"
    groups = dict(design_fields(template.design))
    blank = groups["backFields"][-1][0]

    response = client.post(
        f"{path}/design",
        data=_form(
            template,
            **{
                f"backFields-{blank}-key": "member",
                f"backFields-{blank}-label": "Member",
                f"backFields-{blank}-value": "No. {{member}}",
                "csrf_token": csrf_token(client, path),
            },
        ),
        follow_redirects=True,
    )

    text = html.unescape(response.get_data(as_text=True))
    assert "1 passes issued before have no value for {{member}}" in text
    jobs.join()
    # The device was pushed, and Wallet gets the pass with the field empty.
    assert [r.token for r in apns.wait_for(1)] == [PUSH_TOKEN]
    wallet = client.get(
        f"/passkit/v1/passes/{template.pass_type.pass_type_identifier}/"
        f"{issued_pass.serial_number}",
        headers={"Authorization": f"ApplePass {issued_pass.authentication_token}"},
    )
    assert wallet.status_code == 200
    back = service.render_files(issued_pass)
    assert b'"value": "No. "' in back["pass.json"]
    assert client.get(f"/dashboard/passes/{issued_pass.id}").status_code == 200

    # New data must give the value; voiding alone keeps the data as it was.
    with pytest.raises(service.PassDataError, match="member"):
        service.update_pass(issued_pass, {"holder": "Ann", "seat": "A1", "gate": "4"})
    service.update_pass(issued_pass, is_voided=True, push=False)
    db.session.expire_all()
    assert issued_pass.is_voided is True
    assert issued_pass.data == {"holder": "Ann", "seat": "A1", "gate": "3"}


# The designer's checks and messages


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
