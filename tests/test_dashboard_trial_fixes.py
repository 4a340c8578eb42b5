"""Fixes from a new merchant's trial: barcodes, confirmations, push state, lists."""

import dataclasses
import html
import re
import socket
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.demo import demo_design
from app.extensions import db
from app.merchants import create_merchant
from app.models import Pass, PassType, PushAttempt
from app.passes import service
from tests.conftest import PASS_TYPE_ID, csrf_token

ROOT = Path(__file__).resolve().parent.parent
DEVICE = "f0e1d2c3b4a5968778695a4b3c2d1e0f"
PUSH_TOKEN = "c3" * 32


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


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


def _issue_form(client, template, **values):
    path = f"/dashboard/templates/{template.id}"
    data = {f"value-{name}": value for name, value in values.items()}
    return client.post(
        f"{path}/passes", data={**data, "csrf_token": csrf_token(client, path)}
    )


def _passes() -> int:
    return db.session.scalar(select(func.count(Pass.id)))


# Unusable barcodes are refused


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

    response = _issue_form(
        client, template, member=member, holder="Ann", seat="A1", gate="3"
    )

    text = _text(response)
    assert response.status_code == 200
    assert f'<p class="error">{message}' in text
    assert "issued" not in text
    assert _passes() == 0


def test_a_utf8_barcode_takes_any_characters(client, auth, pass_type):
    template = _member_template(pass_type, encoding="utf-8")
    auth.login()

    response = _issue_form(
        client, template, member="会员-🍕-42", holder="Ann", seat="A1", gate="3"
    )

    assert response.status_code == 302
    [issued] = db.session.scalars(select(Pass)).all()
    assert issued.data["member"] == "会员-🍕-42"


def test_changing_the_data_to_an_unusable_barcode_stores_nothing(
    client, auth, pass_type
):
    template = _member_template(pass_type)
    issued = service.issue_pass(
        template, {"member": "42", "holder": "Ann", "seat": "A1", "gate": "3"}
    )
    tag = issued.update_tag
    auth.login()
    path = f"/dashboard/passes/{issued.id}"

    response = client.post(
        f"{path}/data",
        data={
            "value-member": "会员-42",
            "value-holder": "Ann",
            "value-seat": "A1",
            "value-gate": "3",
            "csrf_token": csrf_token(client, path),
        },
    )

    assert response.status_code == 200
    assert "iso-8859-1 cannot hold: '会员'" in _text(response)
    db.session.expire_all()
    assert (issued.data["member"], issued.update_tag) == ("42", tag)


# Confirmations and a voided pass's data


def test_void_revoke_and_remove_forms_ask_first(client, auth, issued_pass):
    auth.login()
    from app.downloads.links import create_link

    create_link(issued_pass)

    page = client.get(f"/dashboard/passes/{issued_pass.id}").get_data(as_text=True)
    images = client.get(
        f"/dashboard/templates/{issued_pass.template_id}/images"
    ).get_data(as_text=True)

    assert re.search(r'class="void-pass"\s+data-confirm="Void pass ', page)
    assert re.search(r'class="revoke-link"\s+data-confirm="Revoke this link\?', page)
    assert 'data-confirm="Remove the logo image?' in images
    assert '<script src="/static/confirm.js" defer></script>' in page
    script = (ROOT / "static" / "confirm.js").read_text()
    assert "window.confirm(question)" in script
    assert "event.preventDefault()" in script
    assert "onclick" not in page and "onsubmit" not in page


def test_a_voided_pass_has_its_data_form_disabled(client, auth, issued_pass):
    service.update_pass(issued_pass, is_voided=True)
    auth.login()
    path = f"/dashboard/passes/{issued_pass.id}"

    page = _text(client.get(path))
    response = client.post(
        f"{path}/data",
        data={
            "value-holder": "Changed",
            "value-seat": "A1",
            "value-gate": "3",
            "csrf_token": csrf_token(client, path),
        },
    )

    assert '<fieldset class="plain" disabled aria-describedby="voided-data-note">' in (
        page
    )
    assert "The pass is voided: its data no longer changes." in page
    assert 'class="void-pass"' not in page
    assert response.status_code == 200
    assert "The pass is voided: its data no longer changes, and Wallet" in _text(
        response
    )
    db.session.expire_all()
    assert issued_pass.data["holder"] == "Ann"


# Push state on the pass type page


def _register(client, pass_):
    response = client.post(
        f"/passkit/v1/devices/{DEVICE}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": PUSH_TOKEN},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_push_state_goes_from_not_tried_to_failing(app, client, auth, issued_pass):
    _register(client, issued_pass)
    auth.login()
    path = f"/dashboard/pass-types/{issued_pass.pass_type_id}"
    assert '<dd class="">not tried yet: no push has been sent</dd>' in _text(
        client.get(path)
    )
    overview = _text(client.get("/dashboard/"))
    assert "not tried yet: no push has been sent" in overview
    assert ">working<" not in overview

    # Nothing listens there: every push fails with a connection error.
    app.config["APNS_PORT"] = _closed_port()
    app.extensions["passline.apns"].close()
    for _ in range(3):
        client.post(f"{path}/test-push", data={"csrf_token": csrf_token(client, path)})

    attempts = db.session.scalars(select(PushAttempt)).all()
    assert [(a.outcome, a.reason) for a in attempts] == [("failed", "ConnectError")] * 3
    text = _text(client.get(path))
    assert '<dd class="warn">failing: ConnectError</dd>' in text
    assert "working" not in text
    assert "failing: ConnectError" in _text(client.get("/dashboard/"))


# Lists and messages


def test_pass_list_shows_the_email_and_a_dash_for_empty_data(client, auth, pass_type):
    imported = demo_design()
    template = service.create_template(pass_type, "Plain", imported)
    service.issue_pass(
        template,
        {"holder": "", "seat": "", "gate": ""},
        serial_number="EMPTY-1",
        customer_email="guest@venue.example",
    )
    auth.login()

    text = _text(client.get("/dashboard/passes"))

    assert "<th>Customer email</th>" in text
    row = text[text.index("EMPTY-1") : text.index("</tr>", text.index("EMPTY-1"))]
    assert "<td>guest@venue.example</td>" in row
    assert "<td>—</td>" in row
    assert ", ," not in text


def test_a_pass_type_of_another_account_is_named_so(client, auth, app, chain):
    other = create_merchant("Other Venue", "owner@other.example", "other password")
    service.create_pass_type(other, chain.identity())
    create_merchant("New Cafe", "owner@cafe.example", "correct horse")
    auth.login("owner@cafe.example")
    from tests.test_dashboard_pass_types import P12_PASSWORD, _p12, _upload

    response = _upload(
        client,
        p12=_p12(chain.certificate_pem, chain.key_pem, P12_PASSWORD),
        p12_password=P12_PASSWORD,
        wwdr=chain.wwdr_pem,
    )

    text = _text(response)
    assert response.status_code == 200
    assert (
        f"The pass type {PASS_TYPE_ID} is registered to another account on this "
        "server" in text
    )
    assert "already set up here" not in text
    assert db.session.scalar(select(func.count(PassType.id))) == 1


def test_signup_says_why_an_email_is_refused(client):
    path = "/account/signup"
    response = client.post(
        path,
        data={
            "business": "New Cafe",
            "email": "owner@newcafe.test",
            "password": "long enough pw",
            "confirm": "long enough pw",
            "csrf_token": csrf_token(client, path),
        },
    )

    text = _text(response)
    assert response.status_code == 200
    assert "special-use or reserved name" in text
    assert "Invalid email address." not in text


def test_the_overview_numbers_table_is_hidden_without_taking_space(client, auth):
    create_merchant("Venue", "owner@venue.test", "correct horse")
    auth.login()

    text = client.get("/dashboard/").get_data(as_text=True)
    css = (ROOT / "static" / "passline.css").read_text()

    assert re.search(
        r'<div class="visually-hidden">\s*<table class="activity-numbers">', text
    )
    rule = re.search(r"\.visually-hidden \{([^}]*)\}", css).group(1)
    for part in (
        "position: absolute",
        "width: 1px",
        "height: 1px",
        "overflow: hidden",
        "clip-path: inset(50%)",
        "white-space: nowrap",
    ):
        assert part in rule
    # A table ignores its own height, so it must not carry the rule itself.
    assert ".activity-numbers {" not in css
