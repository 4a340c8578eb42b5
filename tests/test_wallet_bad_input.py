"""Bad input from devices, customers and attackers: Wallet service and download links.

Every refused request answers a bare status (an empty body under /passkit) and
leaves devices, registrations, removal records and Wallet's log lines as they were.
"""

import http.client
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from werkzeug.http import http_date

from app.downloads.links import create_link
from app.extensions import db
from app.models import (
    Device,
    DownloadLink,
    Pass,
    Registration,
    RegistrationRemoval,
    WalletLogEntry,
    utcnow,
)
from app.passes import service
from app.wallet import registrations
from app.wallet.registrations import MAX_LOG_LINE, MAX_LOG_LINES

DEVICE = "6c1e9b0d4e7fa3c58f2ab1d2e4f60718"
FIRST_TOKEN = "c3" * 32
NEW_TOKEN = "d4" * 32
PKPASS_MIME = "application/vnd.apple.pkpass"


@dataclass
class Wallet:
    """The live service, the issued pass's identifiers and a second pass's token."""

    http: httpx.Client
    base_url: str
    pass_type_id: str
    serial: str
    token: str
    other_token: str
    update_tag: int
    updated_at: datetime

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"ApplePass {token or self.token}"}

    def registration_path(self, device=DEVICE, pass_type_id=None, serial=None) -> str:
        return (
            f"/passkit/v1/devices/{device}/registrations/"
            f"{pass_type_id or self.pass_type_id}/{serial or self.serial}"
        )

    def pass_path(self, pass_type_id=None, serial=None) -> str:
        return f"/passkit/v1/passes/{pass_type_id or self.pass_type_id}/" + (
            serial or self.serial
        )

    def serials_path(self, device=DEVICE, pass_type_id=None) -> str:
        return (
            f"/passkit/v1/devices/{device}/registrations/"
            f"{pass_type_id or self.pass_type_id}"
        )


@pytest.fixture
def wallet(live_server, issued_pass, template):
    """The live service with DEVICE registered for the pass under FIRST_TOKEN."""
    other = service.issue_pass(template, {"holder": "Bo", "seat": "B2", "gate": "4"})
    registrations.register_device(DEVICE, issued_pass, FIRST_TOKEN)
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield Wallet(
            http=client,
            base_url=live_server,
            pass_type_id=issued_pass.pass_type.pass_type_identifier,
            serial=issued_pass.serial_number,
            token=issued_pass.authentication_token,
            other_token=other.authentication_token,
            update_tag=issued_pass.update_tag,
            updated_at=issued_pass.updated_at,
        )


def _stored():
    """Return every device, registration, removal and Wallet log line, in order."""
    db.session.rollback()
    devices = db.session.scalars(
        select(Device.library_identifier).order_by(Device.library_identifier)
    ).all()
    rows = db.session.execute(
        select(Device.library_identifier, Pass.serial_number, Registration.push_token)
        .join(Registration.device)
        .join(Registration.pass_)
        .order_by(Device.library_identifier, Pass.serial_number)
    ).all()
    logs = db.session.execute(
        select(WalletLogEntry.message, WalletLogEntry.pass_id).order_by(
            WalletLogEntry.id
        )
    ).all()
    removals = db.session.execute(
        select(RegistrationRemoval.pass_id, RegistrationRemoval.library_identifier)
    ).all()
    return {
        "devices": devices,
        "registrations": [tuple(r) for r in rows],
        "removals": removals,
        "logs": logs,
    }


def _raw(base_url: str, method: str, target: str, headers=None, body=None):
    """Send the request target and header bytes exactly as given.

    httpx removes dot segments from paths; http.client sends them verbatim.
    """
    connection = http.client.HTTPConnection(urlsplit(base_url).netloc, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# Authorization ------------------------------------------------------------------

BAD_AUTHORIZATIONS = {
    "missing": lambda w: None,
    "empty": lambda w: "",
    "scheme only": lambda w: "ApplePass",
    "lower-case scheme": lambda w: f"applepass {w.token}",
    "upper-case scheme": lambda w: f"APPLEPASS {w.token}",
    "bearer scheme": lambda w: f"Bearer {w.token}",
    "no scheme": lambda w: w.token,
    "tab separator": lambda w: f"ApplePass\t{w.token}",
    "scheme glued to token": lambda w: f"ApplePass{w.token}",
    "another pass's token": lambda w: f"ApplePass {w.other_token}",
    "token minus a character": lambda w: f"ApplePass {w.token[:-1]}",
    "token plus a character": lambda w: f"ApplePass {w.token}0",
    "token twice": lambda w: f"ApplePass {w.token} {w.token}",
    "10,000 characters": lambda w: "ApplePass " + "A" * 10_000,
    "latin-1 bytes": lambda w: b"ApplePass " + w.token.encode()[:-1] + b"\xe9",
    "utf-8 bytes": lambda w: b"ApplePass " + "pässé".encode() * 8,
}


def _registration_call(w: Wallet, headers):
    return w.http.post(
        w.registration_path(), json={"pushToken": NEW_TOKEN}, headers=headers
    )


def _unregistration_call(w: Wallet, headers):
    return w.http.delete(w.registration_path(), headers=headers)


def _latest_pass_call(w: Wallet, headers):
    return w.http.get(w.pass_path(), headers=headers)


def _latest_pass_head_call(w: Wallet, headers):
    return w.http.head(w.pass_path(), headers=headers)


AUTHENTICATED_CALLS = {
    "register": _registration_call,
    "unregister": _unregistration_call,
    "latest pass": _latest_pass_call,
    "latest pass HEAD": _latest_pass_head_call,
}


@pytest.mark.parametrize("call", AUTHENTICATED_CALLS.values(), ids=AUTHENTICATED_CALLS)
@pytest.mark.parametrize(
    "authorization", BAD_AUTHORIZATIONS.values(), ids=BAD_AUTHORIZATIONS
)
def test_bad_authorization_is_401(wallet, call, authorization):
    before = _stored()
    value = authorization(wallet)
    headers = {} if value is None else {"Authorization": value}

    response = call(wallet, headers)

    assert (response.status_code, response.content) == (401, b"")
    assert "last-modified" not in response.headers
    assert _stored() == before


@pytest.mark.parametrize("call", AUTHENTICATED_CALLS.values(), ids=AUTHENTICATED_CALLS)
def test_two_authorization_headers_are_401(wallet, call):
    before = _stored()
    headers = [
        ("Authorization", f"ApplePass {wallet.other_token}"),
        ("Authorization", f"ApplePass {wallet.token}"),
    ]

    response = call(wallet, headers)

    assert (response.status_code, response.content) == (401, b"")
    assert _stored() == before


RAW_BAD_AUTHORIZATIONS = {
    "scheme and blanks": b"ApplePass   ",
    "NUL after the token": b"ApplePass {token}\0",
    "NUL before the token": b"ApplePass \0{token}",
    "DEL after the token": b"ApplePass {token}\x7f",
}


@pytest.mark.parametrize(
    "value", RAW_BAD_AUTHORIZATIONS.values(), ids=RAW_BAD_AUTHORIZATIONS
)
def test_authorization_bytes_httpx_would_not_send_are_401(wallet, value):
    before = _stored()
    headers = {
        "Authorization": value.replace(b"{token}", wallet.token.encode()),
        "Content-Type": JSON_TYPE,
    }

    status, _, body = _raw(
        wallet.base_url,
        "POST",
        wallet.registration_path(),
        headers,
        json.dumps({"pushToken": NEW_TOKEN}),
    )

    assert (status, body) == (401, b"")
    assert _stored() == before


@pytest.mark.parametrize(
    "value",
    ["ApplePass  {token}", "ApplePass {token}   ", "ApplePass {token}\t"],
    ids=["two spaces (RFC 9110 allows 1*SP)", "trailing blanks", "trailing tab"],
)
def test_authorization_spacing_allowed_by_http_is_accepted(wallet, value):
    headers = {
        "Authorization": value.format(token=wallet.token),
        "Content-Type": JSON_TYPE,
    }

    status, _, body = _raw(
        wallet.base_url,
        "POST",
        wallet.registration_path(),
        headers,
        json.dumps({"pushToken": NEW_TOKEN}),
    )

    assert (status, body) == (200, b"")
    assert _stored()["registrations"] == [(DEVICE, wallet.serial, NEW_TOKEN)]


# Path parameters ----------------------------------------------------------------

BAD_DEVICE_IDS = {
    "129 characters": ("d" * 129, 400),
    "300 characters": ("e" * 300, 400),
    "unicode": ("%C3%A9t%C3%A9-%E2%9C%93", 400),
    "space": ("ab%20cd", 400),
    "trailing newline": (DEVICE + "%0A", 400),
    "NUL": ("ab%00cd", 404),
    "encoded slash": ("ab%2Fcd", 404),
    "empty": ("", 404),
}


@pytest.mark.parametrize(
    ("device", "status"), BAD_DEVICE_IDS.values(), ids=BAD_DEVICE_IDS
)
def test_register_refuses_bad_device_id(wallet, device, status):
    before = _stored()

    response = wallet.http.post(
        wallet.registration_path(device=device),
        json={"pushToken": NEW_TOKEN},
        headers=wallet.auth(),
    )

    assert (response.status_code, response.content) == (status, b"")
    assert _stored() == before


def test_register_accepts_device_id_of_column_size(wallet):
    device = "~" + "f" * 126 + "!"

    response = wallet.http.post(
        wallet.registration_path(device=device),
        json={"pushToken": NEW_TOKEN},
        headers=wallet.auth(),
    )

    assert (response.status_code, response.content) == (201, b"")
    assert _stored()["registrations"] == sorted(
        [(DEVICE, wallet.serial, FIRST_TOKEN), (device, wallet.serial, NEW_TOKEN)]
    )


BAD_PASS_SEGMENTS = {
    "300-character serial": ("serial", "s" * 300, 401),
    "300-character pass type": ("pass_type_id", "pass." + "t" * 300, 401),
    "unicode serial": ("serial", "%E2%9C%93-s%C3%A9rie", 401),
    "invalid UTF-8 serial": ("serial", "%FF%FE", 401),
    "dots serial": ("serial", "%2E%2E", 401),
    "serial with newline": ("serial", "{serial}%0A", 401),
    "NUL in serial": ("serial", "{serial}%00", 404),
    "NUL in pass type": ("pass_type_id", "{pass_type_id}%00x", 404),
    "encoded slash in serial": ("serial", "a%2Fb", 404),
}


def _bad_segment(w: Wallet, name: str, value: str) -> dict[str, str]:
    return {name: value.format(serial=w.serial, pass_type_id=w.pass_type_id)}


@pytest.mark.parametrize(
    ("name", "value", "status"), BAD_PASS_SEGMENTS.values(), ids=BAD_PASS_SEGMENTS
)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_registration_routes_refuse_bad_pass_segments(
    wallet, method, name, value, status
):
    before = _stored()

    response = wallet.http.request(
        method,
        wallet.registration_path(**_bad_segment(wallet, name, value)),
        json={"pushToken": NEW_TOKEN},
        headers=wallet.auth(),
    )

    assert (response.status_code, response.content) == (status, b"")
    assert _stored() == before


@pytest.mark.parametrize(
    ("name", "value", "status"), BAD_PASS_SEGMENTS.values(), ids=BAD_PASS_SEGMENTS
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_latest_pass_refuses_bad_pass_segments(wallet, method, name, value, status):
    response = wallet.http.request(
        method,
        wallet.pass_path(**_bad_segment(wallet, name, value)),
        headers=wallet.auth(),
    )

    assert (response.status_code, response.content) == (status, b"")
    assert "last-modified" not in response.headers


@pytest.mark.parametrize(
    ("device", "pass_type_id", "status"),
    [
        ("d" * 300, None, 204),
        ("%C3%A9t%C3%A9", None, 204),
        ("%FF%FE", None, 204),
        (DEVICE, "pass." + "t" * 300, 204),
        (DEVICE, "pass.%E2%9C%93", 204),
        (DEVICE + "%00", None, 404),
        (DEVICE, "pass%00", 404),
        # Decoded before routing: the path names a registration.
        (DEVICE, "a%2Fb", 405),
    ],
    ids=[
        "300-character device",
        "unicode device",
        "invalid UTF-8 device",
        "300-character pass type",
        "unicode pass type",
        "NUL in device",
        "NUL in pass type",
        "encoded slash",
    ],
)
def test_serials_answer_bad_segments_without_listing(
    wallet, device, pass_type_id, status
):
    before = _stored()

    response = wallet.http.get(wallet.serials_path(device, pass_type_id))

    assert (response.status_code, response.content) == (status, b"")
    assert _stored() == before


def test_unregister_with_unknown_device_ids_removes_nothing(wallet):
    before = _stored()

    for device in ["d" * 300, "%C3%A9t%C3%A9", DEVICE.upper(), DEVICE + "%20"]:
        response = wallet.http.delete(
            wallet.registration_path(device=device), headers=wallet.auth()
        )
        assert (response.status_code, response.content) == (200, b"")

    assert _stored() == before


def test_dot_segments_reach_no_other_route(wallet, issued_pass):
    link = create_link(issued_pass)
    before = _stored()
    auth = wallet.auth()

    latest = _raw(wallet.base_url, "GET", wallet.pass_path(serial=".."), auth)
    escaped = _raw(
        wallet.base_url, "GET", f"/passkit/v1/passes/../../../p/{link.token}", auth
    )
    unregister = _raw(
        wallet.base_url, "DELETE", wallet.registration_path(device=".."), auth
    )

    assert (latest[0], latest[2]) == (401, b"")
    assert (escaped[0], escaped[2]) == (404, b"")
    assert (unregister[0], unregister[2]) == (200, b"")
    assert _stored() == before


# Werkzeug names the methods of the route the slash-merged path would reach,
# so two of these answer 405; none redirects or reaches a view.
@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/passkit/v1/devices//registrations/{pass_type_id}", 404),
        ("GET", "/passkit/v1/devices/{device}/registrations//", 404),
        ("GET", "/passkit/v1/devices/{device}/registrations//{serial}", 404),
        ("POST", "/passkit/v1/devices/{device}/registrations//{serial}", 405),
        ("POST", "/passkit/v1/devices/{device}/registrations/{pass_type_id}/", 404),
        ("DELETE", "/passkit/v1/devices/{device}//registrations/x/{serial}", 405),
        ("GET", "/passkit/v1/passes//{serial}", 404),
        ("GET", "/passkit/v1/passes/{pass_type_id}//", 404),
        ("GET", "/passkit/v1//passes/{pass_type_id}/{serial}", 404),
        ("POST", "/passkit//v1/log", 404),
    ],
)
def test_empty_segments_reach_no_view(wallet, method, target, status):
    before = _stored()
    target = target.format(
        device=DEVICE, pass_type_id=wallet.pass_type_id, serial=wallet.serial
    )

    answered, headers, body = _raw(
        wallet.base_url,
        method,
        target,
        {**wallet.auth(), "Content-Type": "application/json"},
        json.dumps({"pushToken": NEW_TOKEN, "logs": ["a line"]}),
    )

    assert (answered, body) == (status, b"")
    assert "location" not in {name.lower() for name in headers}
    assert _stored() == before


# Registration bodies ------------------------------------------------------------

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
JSON_TYPE = "application/json"

BAD_REGISTRATION_BODIES = {
    "not JSON": (b"{push", JSON_TYPE),
    "empty": (b"", JSON_TYPE),
    "JSON array": (b'["' + NEW_TOKEN.encode() + b'"]', JSON_TYPE),
    "JSON string": (json.dumps(NEW_TOKEN).encode(), JSON_TYPE),
    "JSON null": (b"null", JSON_TYPE),
    "no pushToken": (b'{"token": "' + NEW_TOKEN.encode() + b'"}', JSON_TYPE),
    "number token": (b'{"pushToken": 123}', JSON_TYPE),
    "null token": (b'{"pushToken": null}', JSON_TYPE),
    "list token": (b'{"pushToken": ["' + NEW_TOKEN.encode() + b'"]}', JSON_TYPE),
    "empty token": (b'{"pushToken": ""}', JSON_TYPE),
    "non-hex token": (json.dumps({"pushToken": "zz" * 32}).encode(), JSON_TYPE),
    "15 hex digits": (json.dumps({"pushToken": "a" * 15}).encode(), JSON_TYPE),
    "201 hex digits": (json.dumps({"pushToken": "a" * 201}).encode(), JSON_TYPE),
    "token and newline": (
        json.dumps({"pushToken": NEW_TOKEN + "\n"}).encode(),
        JSON_TYPE,
    ),
    "token with NUL": (json.dumps({"pushToken": NEW_TOKEN + "\0"}).encode(), JSON_TYPE),
    "token with space": (json.dumps({"pushToken": "d4 " * 20}).encode(), JSON_TYPE),
    "lone surrogate": (b'{"pushToken": "d4d4d4d4d4d4d4d4\\ud800"}', JSON_TYPE),
    "invalid UTF-8": (
        b'{"pushToken": "\xff\xfe' + NEW_TOKEN.encode() + b'"}',
        JSON_TYPE,
    ),
    "deeply nested": (DEEP_JSON, JSON_TYPE),
    "nested in pushToken": (b'{"pushToken": ' + DEEP_JSON + b"}", JSON_TYPE),
    "10 MB token": (
        json.dumps({"pushToken": "ab" * 5_000_000}).encode(),
        JSON_TYPE,
    ),
    "not JSON as text/plain": (NEW_TOKEN.encode(), "text/plain"),
    "form fields": (
        b"pushToken=" + NEW_TOKEN.encode(),
        "application/x-www-form-urlencoded",
    ),
}


@pytest.mark.parametrize(
    ("body", "content_type"),
    BAD_REGISTRATION_BODIES.values(),
    ids=BAD_REGISTRATION_BODIES,
)
def test_register_refuses_bad_body(wallet, body, content_type):
    before = _stored()
    headers = wallet.auth()
    if content_type:
        headers["Content-Type"] = content_type

    response = wallet.http.post(
        wallet.registration_path(), content=body, headers=headers
    )

    assert (response.status_code, response.content) == (400, b"")
    assert _stored() == before


@pytest.mark.parametrize(
    "content_type", ["text/plain", None, "application/x-www-form-urlencoded"]
)
def test_register_reads_json_whatever_the_content_type(wallet, content_type):
    headers = wallet.auth()
    if content_type:
        headers["Content-Type"] = content_type

    response = wallet.http.post(
        wallet.registration_path(),
        content=json.dumps({"pushToken": NEW_TOKEN}).encode(),
        headers=headers,
    )

    assert (response.status_code, response.content) == (200, b"")
    assert _stored()["registrations"] == [(DEVICE, wallet.serial, NEW_TOKEN)]


def test_register_refuses_body_over_size_limit(app, client, issued_pass):
    registrations.register_device(DEVICE, issued_pass, FIRST_TOKEN)
    before = _stored()
    body = json.dumps({"pushToken": NEW_TOKEN, "pad": "x" * (17 * 1024 * 1024)})

    response = client.post(
        f"/passkit/v1/devices/{DEVICE}/registrations/"
        f"{issued_pass.pass_type.pass_type_identifier}/{issued_pass.serial_number}",
        data=body,
        content_type=JSON_TYPE,
        headers={"Authorization": f"ApplePass {issued_pass.authentication_token}"},
    )

    assert len(body) > app.config["MAX_CONTENT_LENGTH"]
    assert (response.status_code, response.data) == (413, b"")
    assert _stored() == before


def test_register_accepts_push_token_of_column_size(wallet):
    token = "AbCdEf0123" * 20

    response = wallet.http.post(
        wallet.registration_path(), json={"pushToken": token}, headers=wallet.auth()
    )

    assert (response.status_code, response.content) == (200, b"")
    assert _stored()["registrations"] == [(DEVICE, wallet.serial, token)]


# passesUpdatedSince -------------------------------------------------------------


@pytest.mark.parametrize(
    "since",
    [
        "-1",
        "99999999999999999999999",
        "1000000000000000000",
        "abc",
        "",
        "1.5",
        "1e3",
        "+1",
        " 1",
        "0x10",
        "\uff11",
    ],
    ids=lambda value: repr(value),
)
def test_serials_answer_unknown_tags_with_every_pass(wallet, since):
    response = wallet.http.get(
        wallet.serials_path(), params={"passesUpdatedSince": since}
    )

    assert response.status_code == 200
    assert response.json() == {
        "serialNumbers": [wallet.serial],
        "lastUpdated": str(wallet.update_tag),
    }


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ([("passesUpdatedSince", "0")], 200),
        ([("passesUpdatedSince", "999999999999999999")], 204),
        ([("passesUpdatedSince", "{tag}"), ("passesUpdatedSince", "0")], 204),
        ([("passesUpdatedSince", "0"), ("passesUpdatedSince", "{tag}")], 200),
        ([("passesUpdatedSince", "{tag}"), ("other", "\u2603")], 204),
    ],
    ids=[
        "zero",
        "largest tag",
        "repeated, current first",
        "repeated, zero first",
        "unknown parameter",
    ],
)
def test_serials_read_the_first_tag(wallet, params, status):
    params = [(k, v.format(tag=wallet.update_tag)) for k, v in params]

    response = wallet.http.get(wallet.serials_path(), params=params)

    assert response.status_code == status
    if status == 204:
        assert response.content == b""
    else:
        assert response.json()["serialNumbers"] == [wallet.serial]


def test_serials_refuse_nul_in_tag(wallet):
    response = wallet.http.get(wallet.serials_path() + "?passesUpdatedSince=1%00")

    assert (response.status_code, response.content) == (404, b"")


# If-Modified-Since --------------------------------------------------------------


def _in_zone(moment, hours: int) -> str:
    zone = timezone(timedelta(hours=hours))
    return (
        moment.replace(tzinfo=UTC).astimezone(zone).strftime("%a, %d %b %Y %H:%M:%S ")
        + f"{hours:+03d}00"
    )


IF_MODIFIED_SINCE = {
    "garbage": (lambda at: "yesterday-ish", 200),
    "empty": (lambda at: "", 200),
    "far future": (lambda at: "Fri, 31 Dec 9999 23:59:59 GMT", 304),
    "far future, zone -1200": (lambda at: "Fri, 31 Dec 9999 23:59:59 -1200", 304),
    "far past": (lambda at: "Thu, 01 Jan 1970 00:00:00 GMT", 200),
    "year 100, zone +1400": (lambda at: "Fri, 01 Jan 0100 00:00:00 +1400", 200),
    "RFC 850": (lambda at: "Sunday, 06-Nov-94 08:49:37 GMT", 200),
    "same instant": (lambda at: http_date(at), 304),
    "same instant, zone +0200": (lambda at: _in_zone(at, 2), 304),
    "same instant, zone -0500": (lambda at: _in_zone(at, -5), 304),
    "an hour earlier, zone +0200": (
        lambda at: _in_zone(at - timedelta(hours=1), 2),
        200,
    ),
    "a second earlier, zone -0500": (
        lambda at: _in_zone(at - timedelta(seconds=1), -5),
        200,
    ),
    "impossible zone +9999": (lambda at: "Fri, 31 Dec 9999 23:59:59 +9999", 200),
    "day 32": (lambda at: "Mon, 32 Jan 2024 00:00:00 GMT", 200),
}


@pytest.mark.parametrize(
    ("since", "status"), IF_MODIFIED_SINCE.values(), ids=IF_MODIFIED_SINCE
)
def test_latest_pass_reads_if_modified_since(wallet, since, status):
    headers = {**wallet.auth(), "If-Modified-Since": since(wallet.updated_at)}

    response = wallet.http.get(wallet.pass_path(), headers=headers)

    assert response.status_code == status
    if status == 304:
        assert response.content == b""
    else:
        assert response.headers["last-modified"] == http_date(wallet.updated_at)
        assert response.headers["content-type"] == PKPASS_MIME
        assert response.content.startswith(b"PK\x03\x04")


# Wallet's log -------------------------------------------------------------------

BAD_LOG_BODIES = {
    "logs is a string": (json.dumps({"logs": "a line"}).encode(), JSON_TYPE),
    "logs are numbers": (b'{"logs": [1, 2]}', JSON_TYPE),
    "one line is a number": (b'{"logs": ["a line", 2]}', JSON_TYPE),
    "one line is null": (b'{"logs": ["a line", null]}', JSON_TYPE),
    "logs is null": (b'{"logs": null}', JSON_TYPE),
    "logs is an object": (b'{"logs": {"a": "b"}}', JSON_TYPE),
    "no logs key": (b'{"lines": ["a line"]}', JSON_TYPE),
    "JSON array": (b'["a line"]', JSON_TYPE),
    "not JSON": (b"a line", JSON_TYPE),
    "empty": (b"", JSON_TYPE),
    "invalid UTF-8": (b'{"logs": ["\xff\xfe"]}', JSON_TYPE),
    "deeply nested": (DEEP_JSON, JSON_TYPE),
    "nested in logs": (b'{"logs": ' + DEEP_JSON + b"}", JSON_TYPE),
    "form fields": (b"logs=a+line", "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize(
    ("body", "content_type"), BAD_LOG_BODIES.values(), ids=BAD_LOG_BODIES
)
def test_log_refuses_bad_body(wallet, body, content_type):
    before = _stored()

    response = wallet.http.post(
        "/passkit/v1/log", content=body, headers={"Content-Type": content_type}
    )

    assert (response.status_code, response.content) == (400, b"")
    assert _stored() == before


def _post_logs(w: Wallet, lines: list[str]):
    return w.http.post("/passkit/v1/log", json={"logs": lines})


def _stored_logs():
    return [message for message, _ in _stored()["logs"]]


def test_log_keeps_the_first_lines_of_a_long_report(wallet):
    lines = [f"line {n}" for n in range(10_000)]

    response = _post_logs(wallet, lines)

    assert (response.status_code, response.content) == (200, b"")
    assert _stored_logs() == lines[:MAX_LOG_LINES]


def test_log_truncates_a_long_line(wallet):
    line = "0123456789abcdef" * 65_536

    response = _post_logs(wallet, [line, "next"])

    assert len(line) == 1024 * 1024
    assert (response.status_code, response.content) == (200, b"")
    assert _stored_logs() == [line[:MAX_LOG_LINE], "next"]


def test_log_reads_json_whatever_the_content_type(wallet):
    response = wallet.http.post(
        "/passkit/v1/log",
        content=b'{"logs": ["a line"]}',
        headers={"Content-Type": "text/plain"},
    )

    assert (response.status_code, response.content) == (200, b"")
    assert _stored_logs() == ["a line"]


def test_log_keeps_an_empty_report_as_nothing(wallet):
    response = _post_logs(wallet, [])

    assert (response.status_code, response.content) == (200, b"")
    assert _stored_logs() == []


def test_log_drops_nul_bytes(wallet):
    response = _post_logs(wallet, ["before\0after", "\0\0", "é\0✓"])

    assert (response.status_code, response.content) == (200, b"")
    assert _stored_logs() == ["beforeafter", "", "é✓"]


def test_log_replaces_lone_surrogates(wallet):
    body = b'{"logs": ["half \\ud800 pair", "\\udfff"]}'

    response = wallet.http.post(
        "/passkit/v1/log", content=body, headers={"Content-Type": JSON_TYPE}
    )

    assert (response.status_code, response.content) == (200, b"")
    assert _stored_logs() == ["half ? pair", "?"]


def test_log_links_only_passes_that_exist(wallet, issued_pass):
    lines = [
        f"Get pass task (pass type {wallet.pass_type_id}, serial number "
        f"{wallet.serial}, if-modified-since (null))",
        f"(pass type {'p' * 300}, serial number {'s' * 300})",
        f"(pass type {wallet.pass_type_id}, serial number {'s' * 300})",
        f"(pass type {wallet.pass_type_id}, serial number ✓\0x)",
    ]

    response = _post_logs(wallet, lines)

    assert (response.status_code, response.content) == (200, b"")
    assert _stored()["logs"] == [
        (lines[0], issued_pass.id),
        (lines[1], None),
        (lines[2], None),
        (lines[3].replace("\0", ""), None),
    ]


def test_log_stores_a_10_mb_report_truncated(wallet):
    lines = ["x" * 100_000] * MAX_LOG_LINES

    response = _post_logs(wallet, lines)

    assert (response.status_code, response.content) == (200, b"")
    assert _stored_logs() == ["x" * MAX_LOG_LINE] * MAX_LOG_LINES


# Methods and unknown routes ------------------------------------------------------

WRONG_METHODS = [
    ("GET", "registration", {"DELETE", "POST"}),
    ("PUT", "registration", {"DELETE", "POST"}),
    ("PATCH", "registration", {"DELETE", "POST"}),
    ("POST", "pass", {"GET", "HEAD"}),
    ("PUT", "pass", {"GET", "HEAD"}),
    ("DELETE", "pass", {"GET", "HEAD"}),
    ("PATCH", "pass", {"GET", "HEAD"}),
    ("POST", "serials", {"GET", "HEAD"}),
    ("DELETE", "serials", {"GET", "HEAD"}),
    ("PUT", "serials", {"GET", "HEAD"}),
    ("GET", "log", {"POST"}),
    ("PUT", "log", {"POST"}),
    ("DELETE", "log", {"POST"}),
]


@pytest.mark.parametrize(("method", "route", "allowed"), WRONG_METHODS)
def test_wrong_method_is_405(wallet, method, route, allowed):
    path = {
        "registration": wallet.registration_path(),
        "pass": wallet.pass_path(),
        "serials": wallet.serials_path(),
        "log": "/passkit/v1/log",
    }[route]
    before = _stored()

    response = wallet.http.request(
        method,
        path,
        json={"pushToken": NEW_TOKEN, "logs": ["a line"]},
        headers=wallet.auth(),
    )

    assert (response.status_code, response.content) == (405, b"")
    named = {m.strip() for m in response.headers["allow"].split(",")}
    assert named - {"OPTIONS"} == allowed
    assert _stored() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/passkit"),
        ("GET", "/passkit/"),
        ("GET", "/passkit/v1"),
        ("POST", "/passkit/v1/nothing"),
        ("POST", "/passkit/v2/log"),
        ("POST", "/passkit/v1/log/"),
        ("POST", "/passkit/V1/log"),
        ("GET", "/passkit/v1/passes/pass.test.passline.tickets"),
        ("GET", "/passkit/v1/devices/{device}/registrations"),
        ("POST", "/passkit/v1/devices/{device}/registrations/pt/serial/extra"),
        ("POST", "/passkit/v1/orders/pt/serial"),
    ],
)
def test_unknown_wallet_route_is_404(wallet, method, path):
    before = _stored()

    response = wallet.http.request(
        method,
        path.format(device=DEVICE),
        json={"pushToken": NEW_TOKEN, "logs": ["a line"]},
        headers=wallet.auth(),
    )

    assert (response.status_code, response.content) == (404, b"")
    assert _stored() == before


# Concurrency --------------------------------------------------------------------


def test_concurrent_registrations_create_one_row(wallet):
    device = "0123456789abcdef" * 2
    barrier = threading.Barrier(20)
    statuses = []

    def register(push_token):
        with httpx.Client(base_url=wallet.base_url, timeout=30) as client:
            barrier.wait()
            response = client.post(
                wallet.registration_path(device=device),
                json={"pushToken": push_token},
                headers=wallet.auth(),
            )
        statuses.append((response.status_code, response.content))

    threads = [
        threading.Thread(target=register, args=(f"{n:02x}" * 32,)) for n in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [(200, b"")] * 19 + [(201, b"")]
    stored = _stored()
    assert stored["devices"] == sorted([DEVICE, device])
    (row,) = [r for r in stored["registrations"] if r[0] == device]
    assert row[1] == wallet.serial
    assert row[2] in {f"{n:02x}" * 32 for n in range(20)}


# Download links -----------------------------------------------------------------


def _links():
    db.session.rollback()
    return db.session.execute(
        select(DownloadLink.token, DownloadLink.revoked_at, DownloadLink.expires_at)
    ).all()


@pytest.mark.parametrize(
    "token",
    [
        "unknown-token",
        "a" * 65,
        "a" * 5000,
        "%00",
        "abc%00def",
        "%C3%A9",
        "%FF",
        "%2E%2E",
        "a%2Fb",
        "{token}%00",
        "{token}x",
        "{short}",
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("suffix", ["", "/pass.pkpass", "/passes.pkpasses"])
def test_download_of_unknown_link_is_404(wallet, issued_pass, method, token, suffix):
    link = create_link(issued_pass)
    before = _links()
    target = "/p/" + token.format(token=link.token, short=link.token[:-1]) + suffix

    response = wallet.http.request(method, target)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "last-modified" not in response.headers
    assert not response.content.startswith(b"PK")
    assert _links() == before


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_download_of_withdrawn_link_is_410(wallet, issued_pass, state):
    link = create_link(issued_pass)
    opened = wallet.http.get(f"/p/{link.token}/pass.pkpass")
    assert (opened.status_code, opened.headers["content-type"]) == (200, PKPASS_MIME)
    if state == "revoked":
        link.revoked_at = utcnow()
    else:
        link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    before = _links()

    for path in (f"/p/{link.token}", f"/p/{link.token}/pass.pkpass"):
        response = wallet.http.get(path)
        head = wallet.http.head(path)

        assert response.status_code == 410
        assert response.headers["content-type"].startswith("text/html")
        assert "This pass link no longer works" in response.text
        assert "PK" not in response.text
        assert (head.status_code, head.content) == (410, b"")
    assert _links() == before
