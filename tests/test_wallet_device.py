"""A scripted Wallet device against the running app and the APNs stand-in."""

import json

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from werkzeug.http import http_date

from app import jobs
from app.certificates import load_certificate
from app.extensions import db
from app.models import (
    Device,
    Registration,
    RegistrationRemoval,
    WalletLogEntry,
    utcnow,
)
from app.passes import service
from tests.bundle_check import verify_bundle

DEVICE = "8f2a6c1e9b0d4e7fa3c5b1d2e4f60718"
FIRST_TOKEN = "a1" * 32
SECOND_TOKEN = "b2" * 32


class WalletDevice:
    """Speaks to the web service the way Wallet does."""

    def __init__(self, base_url: str, library_id: str = DEVICE):
        self.http = httpx.Client(base_url=f"{base_url}/passkit/v1", timeout=10)
        self.library_id = library_id

    def registration_path(self, pass_) -> str:
        return (
            f"/devices/{self.library_id}/registrations/"
            f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}"
        )

    def register(self, pass_, push_token, token=None, **kwargs):
        kwargs.setdefault("json", {"pushToken": push_token})
        return self.http.post(
            self.registration_path(pass_),
            headers=_auth(token or pass_.authentication_token),
            **kwargs,
        )

    def unregister(self, pass_):
        return self.http.delete(
            self.registration_path(pass_), headers=_auth(pass_.authentication_token)
        )

    def serials(self, pass_type_id, since=None):
        params = {"passesUpdatedSince": since} if since is not None else {}
        return self.http.get(
            f"/devices/{self.library_id}/registrations/{pass_type_id}", params=params
        )

    def latest(self, pass_, token=None, method="GET", headers=None):
        return self.http.request(
            method,
            f"/passes/{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
            headers={**_auth(token or pass_.authentication_token), **(headers or {})},
        )


def _auth(token):
    return {"Authorization": f"ApplePass {token}"}


def _registrations():
    db.session.expire_all()
    return db.session.scalars(select(Registration)).all()


def _removals():
    db.session.expire_all()
    return [
        (r.pass_id, r.library_identifier, r.reason)
        for r in db.session.scalars(
            select(RegistrationRemoval).order_by(RegistrationRemoval.id)
        )
    ]


def test_wallet_device_sequence(live_server, issued_pass, apns, chain_files, tmp_path):
    device = WalletDevice(live_server)
    pass_type_id = issued_pass.pass_type.pass_type_identifier
    serial = issued_pass.serial_number

    # Register, then register again with a new push token.
    assert device.register(issued_pass, FIRST_TOKEN).status_code == 201
    assert [r.push_token for r in _registrations()] == [FIRST_TOKEN]
    response = device.register(issued_pass, SECOND_TOKEN)
    assert (response.status_code, response.content) == (200, b"")
    assert [r.push_token for r in _registrations()] == [SECOND_TOKEN]

    # Wrong token, wrong scheme, no header, malformed bodies.
    assert device.register(issued_pass, FIRST_TOKEN, token="x" * 32).status_code == 401
    wrong_scheme = device.http.post(
        device.registration_path(issued_pass),
        json={"pushToken": FIRST_TOKEN},
        headers={"Authorization": f"Bearer {issued_pass.authentication_token}"},
    )
    assert wrong_scheme.status_code == 401
    no_header = device.http.post(
        device.registration_path(issued_pass), json={"pushToken": FIRST_TOKEN}
    )
    assert no_header.status_code == 401
    not_json = device.register(issued_pass, None, json=None, content=b"{push")
    assert not_json.status_code == 400
    no_push_token = device.register(issued_pass, None, json={"token": "abc"})
    assert no_push_token.status_code == 400
    assert [r.push_token for r in _registrations()] == [SECOND_TOKEN]

    # Serials with no tag, then with the latest tag.
    listed = device.serials(pass_type_id)
    assert listed.status_code == 200
    first_tag = listed.json()["lastUpdated"]
    assert listed.json() == {"serialNumbers": [serial], "lastUpdated": first_tag}
    assert isinstance(first_tag, str)
    assert device.serials(pass_type_id, since=first_tag).status_code == 204
    assert WalletDevice(live_server, "f" * 32).serials(pass_type_id).status_code == 204

    # The latest pass, conditional GET, wrong token, HEAD.
    fetched = device.latest(issued_pass)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/vnd.apple.pkpass"
    last_modified = fetched.headers["last-modified"]
    assert last_modified == http_date(issued_pass.updated_at)
    files = verify_bundle(fetched.content, chain_files / "root.pem", tmp_path)
    first_json = json.loads(files["pass.json"])
    not_modified = device.latest(
        issued_pass, headers={"If-Modified-Since": last_modified}
    )
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert device.latest(issued_pass, token="y" * 32).status_code == 401
    head = device.latest(issued_pass, method="HEAD")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["last-modified"] == last_modified

    # Wallet's log lines are kept and linked to the pass they name.
    log_line = (
        f"[2026-12-03 10:00:00 +0000] Get pass task (pass type {pass_type_id}, "
        f"serial number {serial}, if-modified-since (null); with web service url "
        "https://passline.test/passkit) encountered error: Server response was "
        "malformed (Missing response data)"
    )
    assert device.http.post("/log", json={"logs": [log_line]}).status_code == 200
    entry = db.session.scalars(select(WalletLogEntry)).one()
    assert (entry.message, entry.pass_id) == (log_line, issued_pass.id)

    # An update pushes to the device, which then fetches the new pass.
    service.update_pass(issued_pass, {**issued_pass.data, "gate": "7"})
    jobs.join()
    (push,) = apns.wait_for(1)
    assert (push.method, push.path) == ("POST", f"/3/device/{SECOND_TOKEN}")
    assert push.headers["apns-topic"] == pass_type_id
    assert push.body == b"{}"
    assert push.client_cert_der == load_certificate(
        issued_pass.pass_type.certificate_pem
    ).public_bytes(Encoding.DER)
    uid = push.client_cert_subject.get_attributes_for_oid(NameOID.USER_ID)
    assert uid[0].value == pass_type_id

    changed = device.serials(pass_type_id, since=first_tag)
    assert changed.status_code == 200
    assert changed.json()["serialNumbers"] == [serial]
    assert int(changed.json()["lastUpdated"]) > int(first_tag)
    refreshed = device.latest(issued_pass, headers={"If-Modified-Since": last_modified})
    assert refreshed.status_code == 200
    assert refreshed.headers["last-modified"] != last_modified
    new_json = json.loads(
        verify_bundle(refreshed.content, chain_files / "root.pem", tmp_path)[
            "pass.json"
        ]
    )
    for key in ("serialNumber", "passTypeIdentifier", "authenticationToken"):
        assert new_json[key] == first_json[key]
    gate = new_json["eventTicket"]["auxiliaryFields"][0]
    assert (gate["key"], gate["value"]) == ("gate", "7")
    assert first_json["eventTicket"]["auxiliaryFields"][0]["value"] == "3"

    # Unregister: the registration and the device go, and no push follows.
    assert device.unregister(issued_pass).status_code == 200
    assert _registrations() == []
    assert db.session.scalars(select(Device)).all() == []
    service.update_pass(issued_pass, {**issued_pass.data, "gate": "9"})
    jobs.join()
    assert len(apns.requests) == 1


def test_unregistered_token_loses_its_registration(live_server, issued_pass, apns):
    device = WalletDevice(live_server)
    assert device.register(issued_pass, FIRST_TOKEN).status_code == 201
    apns.respond(FIRST_TOKEN, (410, "Unregistered"))

    service.update_pass(issued_pass, {**issued_pass.data, "gate": "5"})
    jobs.join()

    assert [r.token for r in apns.requests] == [FIRST_TOKEN]
    assert _registrations() == []
    assert device.serials(issued_pass.pass_type.pass_type_identifier).status_code == 204
    assert _removals() == [(issued_pass.id, DEVICE, "apns_unregistered")]


def test_unregistering_records_the_removal(live_server, issued_pass, template):
    other_pass = service.issue_pass(template, issued_pass.data)
    device = WalletDevice(live_server)
    assert device.register(issued_pass, FIRST_TOKEN).status_code == 201
    assert device.register(other_pass, FIRST_TOKEN).status_code == 201
    before = utcnow().replace(microsecond=0)

    response = device.unregister(issued_pass)

    assert (response.status_code, response.content) == (200, b"")
    assert [r.pass_id for r in _registrations()] == [other_pass.id]
    assert _removals() == [(issued_pass.id, DEVICE, "unregistered")]
    removed_at = db.session.scalars(select(RegistrationRemoval.removed_at)).one()
    assert before <= removed_at <= utcnow()
    # Unregistering again removes nothing more, so nothing more is recorded.
    assert device.unregister(issued_pass).status_code == 200
    assert _removals() == [(issued_pass.id, DEVICE, "unregistered")]
    # The record outlives the device row, which goes with its last registration.
    assert device.unregister(other_pass).status_code == 200
    assert db.session.scalars(select(Device)).all() == []
    assert _removals() == [
        (issued_pass.id, DEVICE, "unregistered"),
        (other_pass.id, DEVICE, "unregistered"),
    ]


@pytest.mark.parametrize(
    "path",
    [
        f"/devices/{DEVICE}/registrations/pass.unknown/123",
        "/passes/pass.unknown/123",
    ],
)
def test_unknown_pass_is_unauthorized(live_server, path, issued_pass):
    http = httpx.Client(base_url=f"{live_server}/passkit/v1")
    token = issued_pass.authentication_token
    method = "POST" if "devices" in path else "GET"
    response = http.request(
        method, path, json={"pushToken": FIRST_TOKEN}, headers=_auth(token)
    )
    assert (response.status_code, response.content) == (401, b"")


def test_log_line_with_a_colon_after_the_serial_is_linked(client, issued_pass):
    pass_type_id = issued_pass.pass_type.pass_type_identifier
    line = (
        f"Web service error for pass type {pass_type_id}, serial number "
        f"{issued_pass.serial_number}: Response code 500"
    )

    response = client.post("/passkit/v1/log", json={"logs": [line]})

    assert response.status_code == 200
    entry = db.session.scalars(select(WalletLogEntry)).one()
    assert (entry.message, entry.pass_id) == (line, issued_pass.id)


def test_check_ins_and_fetches_are_recorded_to_the_minute(
    live_server, issued_pass, client, auth
):
    device = WalletDevice(live_server)
    assert device.register(issued_pass, FIRST_TOKEN).status_code == 201
    pass_type_id = issued_pass.pass_type.pass_type_identifier
    modified_at = issued_pass.updated_at
    before = utcnow().replace(microsecond=0)

    assert device.serials(pass_type_id).status_code == 200
    assert device.latest(issued_pass).status_code == 200

    db.session.expire_all()
    checked = db.session.scalars(select(Device)).one().last_checked_at
    fetched = issued_pass.last_fetched_at
    assert checked is not None and checked >= before
    assert fetched is not None and fetched >= before
    # Recording a fetch is not a change of the pass.
    assert issued_pass.updated_at == modified_at
    # Within the minute, polling again writes nothing new.
    not_modified = device.latest(
        issued_pass, headers={"If-Modified-Since": http_date(modified_at)}
    )
    assert not_modified.status_code == 304
    assert device.serials(pass_type_id).status_code == 200
    db.session.expire_all()
    assert db.session.scalars(select(Device)).one().last_checked_at == checked
    assert issued_pass.last_fetched_at == fetched

    auth.login()
    text = client.get(f"/dashboard/passes/{issued_pass.id}").get_data(as_text=True)
    assert f"<dd>{fetched:%Y-%m-%d %H:%M:%S}</dd>" in text
    assert f"<td>{checked:%Y-%m-%d %H:%M:%S}</td>" in text
    page = client.get(f"/dashboard/pass-types/{issued_pass.pass_type_id}")
    assert f"<td>{checked:%Y-%m-%d %H:%M:%S}</td>" in page.get_data(as_text=True)


def test_an_unknown_device_checking_in_records_nothing(live_server, issued_pass):
    device = WalletDevice(live_server, library_id="f" * 32)

    response = device.serials(issued_pass.pass_type.pass_type_identifier)

    assert response.status_code == 204
    db.session.expire_all()
    assert db.session.scalars(select(Device)).all() == []
