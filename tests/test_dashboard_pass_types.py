"""Adding a pass type from uploaded certificates, its page and the test push."""

import html
import io
import re
import socket
import subprocess

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
    pkcs12,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, select

from app.certificates import private_key_pem
from app.devchain import issue_certificate, make_development_chain
from app.extensions import db
from app.merchants import create_merchant
from app.models import AuditEntry, Device, PassType, PushAttempt, Registration, User
from app.passes import service
from tests.conftest import KEY_ENCRYPTION_KEY, PASS_TYPE_ID, TEAM_ID, csrf_token

NEW = "/dashboard/pass-types/new"
P12_PASSWORD = "p12 secret"
FILENAMES = {
    "p12": "Certificates.p12",
    "certificate": "pass.cer.pem",
    "private_key": "pass.key.pem",
    "wwdr": "AppleWWDRCAG4.cer",
}
FIRST_TOKEN = "a1" * 32
SECOND_TOKEN = "b2" * 32


def _p12(certificate_pem: bytes, key_pem: bytes | None, password: str) -> bytes:
    """Export a certificate, and its key unless None, as Keychain Access does."""
    key = load_pem_private_key(key_pem, None) if key_pem else None
    return pkcs12.serialize_key_and_certificates(
        b"Pass Type ID",
        key,
        x509.load_pem_x509_certificate(certificate_pem),
        None,
        BestAvailableEncryption(password.encode()),
    )


def _der(certificate_pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(certificate_pem).public_bytes(Encoding.DER)


def _upload(client, **fields):
    """Post the form: bytes become file uploads, strings plain fields."""
    data = {"csrf_token": csrf_token(client, NEW)}
    for name, value in fields.items():
        is_file = isinstance(value, bytes)
        data[name] = (io.BytesIO(value), FILENAMES[name]) if is_file else value
    return client.post(NEW, data=data, content_type="multipart/form-data")


def _field_error(response, field: str) -> str:
    """Return the error text shown next to the field, or "" when there is none."""
    match = re.search(
        rf'id="{field}-error">(.*?)</span>', response.get_data(as_text=True), re.S
    )
    return html.unescape(match.group(1)) if match else ""


def _all_errors(response) -> dict[str, str]:
    found = re.findall(
        r'id="(\w+)-error">(.*?)</span>', response.get_data(as_text=True), re.S
    )
    return {field: html.unescape(text) for field, text in found}


def _pass_types() -> list[PassType]:
    db.session.expire_all()
    return db.session.scalars(select(PassType).order_by(PassType.id)).all()


def _added_entries() -> list[AuditEntry]:
    return db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "pass_type.added")
    ).all()


def _refused(response, field: str, message: str) -> None:
    """Assert the form came back with only that message, by that field."""
    assert response.status_code == 200
    assert _all_errors(response) == {field: _field_error(response, field)}
    assert message in _field_error(response, field)
    assert _pass_types() == []
    assert _added_entries() == []


def _owner_id() -> int:
    return db.session.scalars(select(User.id)).one()


@pytest.fixture
def signed_in(auth, merchant):
    auth.login()
    return merchant


# Adding a pass type


def test_new_page_shows_both_ways_and_the_wwdr(client, signed_in):
    response = client.get(NEW)

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in text
    for name in ("p12", "p12_password", "certificate", "private_key", "wwdr"):
        assert f'name="{name}"' in text
    assert 'name="csrf_token"' in text


def test_p12_upload_adds_the_pass_type(client, signed_in, chain):
    response = _upload(
        client,
        p12=_p12(chain.certificate_pem, chain.key_pem, P12_PASSWORD),
        p12_password=P12_PASSWORD,
        wwdr=_der(chain.wwdr_pem),
    )

    [added] = _pass_types()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/pass-types/{added.id}"
    certificate = x509.load_pem_x509_certificate(chain.certificate_pem)
    assert (added.merchant_id, added.pass_type_identifier, added.team_identifier) == (
        signed_in.id,
        PASS_TYPE_ID,
        TEAM_ID,
    )
    assert added.certificate_pem == chain.certificate_pem
    # Uploaded as DER, stored as PEM like every other certificate.
    assert added.wwdr_certificate_pem == chain.wwdr_pem
    assert added.certificate_expires_at == certificate.not_valid_after_utc.replace(
        tzinfo=None
    )
    assert b"PRIVATE KEY" not in added.private_key_encrypted
    assert Fernet(KEY_ENCRYPTION_KEY).decrypt(added.private_key_encrypted) == (
        chain.key_pem
    )
    [entry] = _added_entries()
    assert (entry.subject, entry.merchant_id, entry.actor) == (
        PASS_TYPE_ID,
        signed_in.id,
        f"user:{_owner_id()}",
    )
    page = html.unescape(
        client.get(response.headers["Location"]).get_data(as_text=True)
    )
    assert f"Pass type {PASS_TYPE_ID} added" in page


def test_pem_upload_adds_the_pass_type(client, signed_in, chain):
    key = load_pem_private_key(chain.key_pem, None)
    encrypted_key = key.private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"key secret")
    )

    response = _upload(
        client,
        certificate=chain.certificate_pem,
        private_key=encrypted_key,
        key_password="key secret",
        wwdr=chain.wwdr_pem,
    )

    [added] = _pass_types()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/pass-types/{added.id}"
    assert (added.merchant_id, added.pass_type_identifier, added.team_identifier) == (
        signed_in.id,
        PASS_TYPE_ID,
        TEAM_ID,
    )
    assert added.certificate_pem == chain.certificate_pem
    assert added.wwdr_certificate_pem == chain.wwdr_pem
    expires = x509.load_pem_x509_certificate(chain.certificate_pem).not_valid_after_utc
    assert added.certificate_expires_at == expires.replace(tzinfo=None)
    assert chain.key_pem not in added.private_key_encrypted
    assert encrypted_key not in added.private_key_encrypted
    assert b"PRIVATE KEY" not in added.private_key_encrypted
    assert Fernet(KEY_ENCRYPTION_KEY).decrypt(added.private_key_encrypted) == (
        chain.key_pem
    )
    [entry] = _added_entries()
    assert (entry.subject, entry.actor) == (PASS_TYPE_ID, f"user:{_owner_id()}")


def test_wrong_p12_password_is_shown_by_the_password(client, signed_in, chain):
    response = _upload(
        client,
        p12=_p12(chain.certificate_pem, chain.key_pem, P12_PASSWORD),
        p12_password="not the password",
        wwdr=chain.wwdr_pem,
    )

    _refused(response, "p12_password", "the password is wrong")


def test_p12_without_its_key_is_refused(client, signed_in, chain):
    response = _upload(
        client,
        p12=_p12(chain.certificate_pem, None, P12_PASSWORD),
        p12_password=P12_PASSWORD,
        wwdr=chain.wwdr_pem,
    )

    _refused(response, "p12", "The .p12 holds no private key")


def test_legacy_encrypted_p12_is_accepted(client, signed_in, chain, tmp_path):
    (tmp_path / "cert.pem").write_bytes(chain.certificate_pem)
    (tmp_path / "key.pem").write_bytes(chain.key_pem)
    subprocess.run(
        [
            *("openssl", "pkcs12", "-export", "-legacy"),
            *("-in", "cert.pem", "-inkey", "key.pem", "-out", "legacy.p12"),
            *("-passout", f"pass:{P12_PASSWORD}"),
        ],
        cwd=tmp_path,
        check=True,
    )
    info = subprocess.run(
        [
            *("openssl", "pkcs12", "-info", "-noout", "-legacy"),
            *("-in", "legacy.p12", "-passin", f"pass:{P12_PASSWORD}"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    # The export really uses the old ciphers Keychain Access once wrote.
    assert "RC2" in info.stderr
    assert "3-KeyTripleDES" in info.stderr

    response = _upload(
        client,
        p12=(tmp_path / "legacy.p12").read_bytes(),
        p12_password=P12_PASSWORD,
        wwdr=chain.wwdr_pem,
    )

    [added] = _pass_types()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/pass-types/{added.id}"
    assert added.pass_type_identifier == PASS_TYPE_ID
    assert Fernet(KEY_ENCRYPTION_KEY).decrypt(added.private_key_encrypted) == (
        chain.key_pem
    )


def _small_chain(days: int):
    """Return (WWDR PEM, certificate PEM, key PEM) from a chain made here."""
    wwdr_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pass_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wwdr_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test WWDR")])
    pass_name = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, "pass.test.passline.expired"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEAM_ID),
        ]
    )
    wwdr = issue_certificate(
        wwdr_name, wwdr_key, wwdr_name, wwdr_key, is_ca=True, days=365
    )
    certificate = issue_certificate(
        pass_name,
        pass_key,
        wwdr_name,
        wwdr_key,
        is_ca=False,
        days=days,
        extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    return (
        wwdr.public_bytes(Encoding.PEM),
        certificate.public_bytes(Encoding.PEM),
        private_key_pem(pass_key),
    )


def test_expired_certificate_is_refused(client, signed_in):
    # Valid from an hour ago for zero days: it expired an hour ago.
    wwdr_pem, certificate_pem, key_pem = _small_chain(days=0)
    expired = x509.load_pem_x509_certificate(certificate_pem).not_valid_after_utc

    response = _upload(
        client, certificate=certificate_pem, private_key=key_pem, wwdr=wwdr_pem
    )

    _refused(response, "certificate", f"The certificate expired on {expired:%Y-%m-%d}")


def test_wwdr_that_did_not_issue_the_certificate_is_refused(client, signed_in, chain):
    other = make_development_chain("pass.test.passline.other", TEAM_ID)

    response = _upload(
        client,
        p12=_p12(chain.certificate_pem, chain.key_pem, P12_PASSWORD),
        p12_password=P12_PASSWORD,
        wwdr=other.wwdr_pem,
    )

    _refused(response, "wwdr", "The WWDR certificate did not issue this certificate")


def test_key_of_another_certificate_is_refused(client, signed_in, chain):
    other = make_development_chain("pass.test.passline.other", TEAM_ID)

    response = _upload(
        client,
        certificate=chain.certificate_pem,
        private_key=other.key_pem,
        wwdr=chain.wwdr_pem,
    )

    _refused(
        response, "private_key", "The private key does not belong to this certificate"
    )


def test_pass_type_already_set_up_is_refused(client, signed_in, pass_type, chain):
    response = _upload(
        client,
        p12=_p12(chain.certificate_pem, chain.key_pem, P12_PASSWORD),
        p12_password=P12_PASSWORD,
        wwdr=chain.wwdr_pem,
    )

    assert response.status_code == 200
    assert _all_errors(response) == {
        "p12": f"You have already added the pass type {PASS_TYPE_ID}."
    }
    assert [p.id for p in _pass_types()] == [pass_type.id]
    assert len(_added_entries()) == 1


def test_neither_p12_nor_certificate_and_key_is_refused(client, signed_in, chain):
    response = _upload(client, p12_password=P12_PASSWORD, wwdr=chain.wwdr_pem)

    _refused(response, "p12", "Upload a .p12 with its password, or a PEM certificate")


def test_wwdr_that_is_not_a_certificate_is_refused(client, signed_in, chain):
    response = _upload(
        client,
        certificate=chain.certificate_pem,
        private_key=chain.key_pem,
        wwdr=b"Apple Worldwide Developer Relations, as text\n",
    )

    _refused(response, "wwdr", "That file is not a PEM or DER certificate.")


def test_empty_file_is_refused(client, signed_in, chain):
    response = _upload(client, p12=b"", p12_password=P12_PASSWORD, wwdr=chain.wwdr_pem)

    _refused(response, "p12", "That file is empty.")


def test_file_too_large_for_a_certificate_is_refused(client, signed_in, chain):
    response = _upload(
        client,
        certificate=chain.certificate_pem,
        private_key=chain.key_pem,
        wwdr=chain.wwdr_pem + b"\n" * (300 * 1024),
    )

    _refused(response, "wwdr", "That file is too large for a certificate or key")


def test_upload_over_the_size_limit_gets_a_clear_page(client, signed_in, app, chain):
    response = _upload(client, p12=b"\0" * (20 * 1024 * 1024), wwdr=chain.wwdr_pem)

    text = response.get_data(as_text=True)
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "That upload is too large" in text
    assert "at most 16 MB" in text
    assert "<title>Upload too large · Passline</title>" in text
    assert _pass_types() == []


def test_upload_without_csrf_token_is_refused(client, signed_in, chain):
    response = client.post(
        NEW,
        data={
            "p12": (io.BytesIO(_p12(chain.certificate_pem, chain.key_pem, "x")), "a"),
            "p12_password": "x",
            "wwdr": (io.BytesIO(chain.wwdr_pem), "wwdr.pem"),
        },
        content_type="multipart/form-data",
    )

    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert _pass_types() == []


# The pass type page


def _page(client, pass_type) -> str:
    response = client.get(f"/dashboard/pass-types/{pass_type.id}")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def _register(client, pass_, library_id: str, push_token: str) -> None:
    """Register a device for the pass through the web service, as Wallet does."""
    response = client.post(
        f"/passkit/v1/devices/{library_id}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": push_token},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


def test_page_shows_ids_expiry_and_devices(client, signed_in, issued_pass):
    _register(client, issued_pass, "d" * 32, FIRST_TOKEN)
    _register(client, issued_pass, "e" * 32, SECOND_TOKEN)
    pass_type = issued_pass.pass_type

    text = _page(client, pass_type)

    assert f"<dt>Pass type id</dt><dd>{PASS_TYPE_ID}</dd>" in text
    assert f"<dt>Team id</dt><dd>{TEAM_ID}</dd>" in text
    assert f"{pass_type.certificate_expires_at:%Y-%m-%d}" in text
    assert "renew it soon" not in text
    assert "<dt>Registered devices</dt><dd>2</dd>" in text
    assert '<dd class="">not tried yet: no push has been sent</dd>' in text
    assert f'action="/dashboard/pass-types/{pass_type.id}/test-push"' in text


def test_page_warns_of_a_certificate_expiring_within_30_days(client, signed_in):
    soon = make_development_chain("pass.test.passline.soon", TEAM_ID, days=20)
    pass_type = service.create_pass_type(signed_in, soon.identity())

    text = _page(client, pass_type)

    assert 'class="warn">' in text
    assert "renew it soon" in text
    assert "<dt>Registered devices</dt><dd>0</dd>" in text


def test_another_merchant_gets_404(client, auth, issued_pass, apns):
    _register(client, issued_pass, "d" * 32, FIRST_TOKEN)
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    path = f"/dashboard/pass-types/{issued_pass.pass_type_id}"
    token = csrf_token(client, "/dashboard/")

    page = client.get(path)
    pushed = client.post(f"{path}/test-push", data={"csrf_token": token})

    assert page.status_code == 404
    assert pushed.status_code == 404
    assert PASS_TYPE_ID not in page.get_data(as_text=True)
    assert apns.requests == []
    assert db.session.scalar(select(func.count(PushAttempt.id))) == 0


# The test push


def _test_push(client, pass_type):
    path = f"/dashboard/pass-types/{pass_type.id}"
    response = client.post(
        f"{path}/test-push", data={"csrf_token": csrf_token(client, path)}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == path
    return _page(client, pass_type)


def _attempts() -> list[PushAttempt]:
    db.session.expire_all()
    return db.session.scalars(select(PushAttempt).order_by(PushAttempt.id)).all()


def test_test_push_reaches_the_latest_registered_device(
    client, signed_in, issued_pass, apns
):
    _register(client, issued_pass, "d" * 32, FIRST_TOKEN)
    _register(client, issued_pass, "e" * 32, SECOND_TOKEN)

    text = _test_push(client, issued_pass.pass_type)

    [request] = apns.wait_for(1)
    assert request.method == "POST"
    assert request.path == f"/3/device/{SECOND_TOKEN}"
    assert request.headers["apns-topic"] == PASS_TYPE_ID
    assert request.body == b"{}"
    [uid] = request.client_cert_subject.get_attributes_for_oid(NameOID.USER_ID)
    assert uid.value == PASS_TYPE_ID
    suffix = SECOND_TOKEN[-8:]
    [attempt] = _attempts()
    assert (attempt.pass_type_id, attempt.outcome, attempt.status_code) == (
        issued_pass.pass_type_id,
        "sent",
        200,
    )
    assert attempt.push_token_suffix == suffix
    hint = "…" + SECOND_TOKEN[-4:]
    assert f"Test push sent: APNs accepted it for the device with token {hint}." in text
    # The pushes table and the devices table shorten the token alike.
    assert text.count(f"<td>{hint}</td>") == 2
    assert "…" + suffix not in text
    assert "working: APNs took a push at" in text


def test_test_push_answered_410_removes_the_registration(
    client, signed_in, issued_pass, apns
):
    _register(client, issued_pass, "d" * 32, FIRST_TOKEN)
    apns.respond(FIRST_TOKEN, (410, "Unregistered"))

    text = _test_push(client, issued_pass.pass_type)

    assert len(apns.wait_for(1)) == 1
    [attempt] = _attempts()
    assert (attempt.outcome, attempt.status_code, attempt.reason) == (
        "unregistered",
        410,
        "Unregistered",
    )
    assert db.session.scalars(select(Registration)).all() == []
    assert db.session.scalars(select(Device)).all() == []
    assert "APNs answered 410 Unregistered" in text
    assert "its registration was removed" in text
    assert "<dt>Registered devices</dt><dd>0</dd>" in text


def test_test_push_failure_shows_the_reason(client, signed_in, issued_pass, apns):
    _register(client, issued_pass, "d" * 32, FIRST_TOKEN)
    apns.respond(FIRST_TOKEN, (400, "BadDeviceToken"))

    text = _test_push(client, issued_pass.pass_type)

    [attempt] = _attempts()
    assert (attempt.outcome, attempt.reason) == ("bad_device_token", "BadDeviceToken")
    assert "failed: APNs answered 400 BadDeviceToken." in text
    # One token failing alone may be the host or certificate: it stays.
    assert len(db.session.scalars(select(Registration)).all()) == 1
    assert "check that APNS_HOST is the production host" in text


def test_test_push_without_devices_says_so(client, signed_in, issued_pass, apns):
    text = _test_push(client, issued_pass.pass_type)

    assert "No device has registered a pass of this type yet" in text
    assert apns.requests == []
    assert _attempts() == []


def test_test_push_without_csrf_token_is_refused(client, signed_in, issued_pass, apns):
    _register(client, issued_pass, "d" * 32, FIRST_TOKEN)

    response = client.post(
        f"/dashboard/pass-types/{issued_pass.pass_type_id}/test-push"
    )

    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert apns.requests == []
    assert _attempts() == []


# Push state, and a pass type set up by another account


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_push_state_goes_from_not_tried_to_failing(app, client, auth, issued_pass):
    _register(client, issued_pass, "d" * 32, FIRST_TOKEN)
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


def test_a_pass_type_of_another_account_is_named_so(client, auth, app, chain):
    other = create_merchant("Other Venue", "owner@other.example", "other password")
    service.create_pass_type(other, chain.identity())
    create_merchant("New Cafe", "owner@cafe.example", "correct horse")
    auth.login("owner@cafe.example")

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
