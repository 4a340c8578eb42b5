"""The pass type page lists its devices and Wallet log, and nobody else's."""

import html

import pytest
from sqlalchemy import func, select

from app.demo import demo_design
from app.devchain import make_development_chain
from app.extensions import db
from app.merchants import create_merchant
from app.models import Registration, WalletLogEntry
from app.passes import service

FIRST_DEVICE = "1f0e2d3c4b5a69788796a5b4c3d2e1f0aa11"
SECOND_DEVICE = "2f0e2d3c4b5a69788796a5b4c3d2e1f0bb22"
RIVAL_DEVICE = "3f0e2d3c4b5a69788796a5b4c3d2e1f0cc33"
FIRST_TOKEN = "0123456789abcdef" * 3 + "00000000000a1a1a"
SECOND_TOKEN = "fedcba9876543210" * 3 + "00000000000b2b2b"
RIVAL_TOKEN = "00112233445566778899aabbccddeeff" * 2
RIVAL_PASS_TYPE_ID = "pass.test.passline.rival"


def _register(client, device_id, pass_, push_token):
    return client.post(
        f"/passkit/v1/devices/{device_id}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
        json={"pushToken": push_token},
    )


def _log(client, *lines):
    return client.post("/passkit/v1/log", json={"logs": list(lines)})


def _names(pass_):
    return (
        f"pass type {pass_.pass_type.pass_type_identifier}, "
        f"serial number {pass_.serial_number}"
    )


@pytest.fixture
def second_pass(template):
    return service.issue_pass(template, {"holder": "Bo", "seat": "B2", "gate": "4"})


@pytest.fixture
def rival_pass(app):
    rival = create_merchant("Rival", "rival@other.test", "rival password")
    chain = make_development_chain(RIVAL_PASS_TYPE_ID, "RIVALTEAM1")
    pass_type = service.create_pass_type(rival, chain.identity())
    template = service.create_template(pass_type, "Rival show", demo_design())
    return service.issue_pass(template, {"holder": "Cy", "seat": "C3", "gate": "5"})


def test_owner_sees_devices_shortened_and_masked(
    client, auth, issued_pass, second_pass, rival_pass
):
    assert _register(client, FIRST_DEVICE, issued_pass, FIRST_TOKEN).status_code == 201
    assert (
        _register(client, SECOND_DEVICE, second_pass, SECOND_TOKEN).status_code == 201
    )
    assert _register(client, RIVAL_DEVICE, rival_pass, RIVAL_TOKEN).status_code == 201
    assert db.session.scalar(select(func.count(Registration.id))) == 3

    auth.login()
    response = client.get(f"/dashboard/pass-types/{issued_pass.pass_type_id}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "<h2>Registered devices</h2>" in page
    assert "2 registrations." in page
    # Newest registration first.
    second_at = page.index(f"…{SECOND_DEVICE[-6:]}")
    first_at = page.index(f"…{FIRST_DEVICE[-6:]}")
    assert second_at < first_at
    assert f"…{FIRST_TOKEN[-4:]}" in page
    assert f"…{SECOND_TOKEN[-4:]}" in page
    for secret in (FIRST_DEVICE, SECOND_DEVICE, FIRST_TOKEN, SECOND_TOKEN):
        assert secret not in page
    for pass_ in (issued_pass, second_pass):
        link = f'<a href="/dashboard/passes/{pass_.id}">{pass_.serial_number}</a>'
        assert link in page

    # The other merchant's device, token and pass do not show.
    assert RIVAL_DEVICE[-6:] not in page
    assert RIVAL_TOKEN[-4:] not in page
    assert rival_pass.serial_number not in page


def test_owner_sees_wallet_log_of_the_pass_type_only(
    client, auth, issued_pass, rival_pass
):
    own_line = f"Web service error (for {_names(issued_pass)}): 500 from server"
    long_line = f"Could not parse the pass ({_names(issued_pass)}): " + "x" * 400
    rival_line = f"Web service error (for {_names(rival_pass)}): rival trouble"
    unlinked_line = "Generic Wallet complaint about nothing in particular"
    assert _log(client, own_line, rival_line, unlinked_line).status_code == 200
    assert _log(client, long_line).status_code == 200
    assert db.session.scalar(select(func.count(WalletLogEntry.id))) == 4

    auth.login()
    response = client.get(f"/dashboard/pass-types/{issued_pass.pass_type_id}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "<h2>Wallet log</h2>" in page
    assert f'<td class="log-line">{html.escape(own_line)}</td>' in page
    # The long line is cut at 300 characters; its title keeps it whole.
    shortened = (
        f'<td class="log-line" title="{html.escape(long_line)}">'
        f"{html.escape(long_line[:300])}…</td>"
    )
    assert shortened in page
    # Newest first, each with a link to its pass.
    assert page.index(html.escape(long_line[:300])) < page.index(html.escape(own_line))
    link = f'<a href="/dashboard/passes/{issued_pass.id}">{issued_pass.serial_number}'
    assert page.count(link) == 2
    assert "rival trouble" not in page
    assert unlinked_line not in page
    assert rival_pass.serial_number not in page


def test_empty_sections_say_so(client, auth, pass_type):
    auth.login()
    response = client.get(f"/dashboard/pass-types/{pass_type.id}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "No device has registered a pass of this type." in page
    assert "Wallet has logged nothing about passes of this type." in page


def test_list_is_limited_with_the_total_shown(client, auth, issued_pass):
    for number in range(101):
        device = f"limit-device-{number:04d}"
        token = f"{number:04d}" + "c" * 60
        assert _register(client, device, issued_pass, token).status_code == 201

    auth.login()
    response = client.get(f"/dashboard/pass-types/{issued_pass.pass_type_id}")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "The newest 100 of 101 registrations." in page
    assert page.count("…e-0") == 100
    # The first registration is the oldest, so it is the one left off.
    assert "…e-0000<" not in page
    assert "…e-0100<" in page
