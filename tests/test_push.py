"""Pushing pass updates through the APNs stand-in, and what each answer leaves."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select
from werkzeug.http import http_date, parse_date

from app import jobs
from app.certificates import build_identity, load_certificate, load_pem_key
from app.demo import demo_design
from app.devchain import make_development_chain
from app.extensions import db
from app.jobs import ThreadQueue
from app.models import Device, PassType, PushAttempt, Registration, RegistrationRemoval
from app.passes import service
from app.push.apns import APNsClient
from app.push.service import CHUNK, push_pass_updates, remove_registrations
from app.wallet.registrations import register_device

DATA = {"holder": "Ann", "seat": "A1", "gate": "3"}


def _token(n: int) -> str:
    """Return a 64-hex-digit push token whose every digit tells it apart."""
    return f"{n:064x}"


FIRST, SECOND, THIRD = _token(0xA1), _token(0xB2), _token(0xC3)


def _register(client, pass_, library_id, push_token):
    """Register through the web service, as Wallet does."""
    response = client.post(
        f"/passkit/v1/devices/{library_id}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": push_token},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201
    return response


def _attempts():
    db.session.expire_all()
    return db.session.scalars(select(PushAttempt).order_by(PushAttempt.id)).all()


def _registrations():
    db.session.expire_all()
    return db.session.scalars(select(Registration).order_by(Registration.id)).all()


def _removals():
    db.session.expire_all()
    return sorted(
        db.session.execute(
            select(
                RegistrationRemoval.pass_id,
                RegistrationRemoval.library_identifier,
                RegistrationRemoval.reason,
            )
        ).all()
    )


def _device_ids():
    return set(db.session.scalars(select(Device.library_identifier)))


def _problem(pass_type):
    db.session.expire_all()
    return db.session.get_one(PassType, pass_type.id).push_problem


@pytest.fixture
def second_pass(template):
    return service.issue_pass(template, {"holder": "Bob", "seat": "A2", "gate": "3"})


# Update tags and Last-Modified


def test_updates_in_one_second_all_reach_a_polling_device(
    client, issued_pass, second_pass
):
    device = "d" * 32
    _register(client, issued_pass, device, FIRST)
    _register(client, second_pass, device, FIRST)
    path = f"/passkit/v1/devices/{device}/registrations/pass.test.passline.tickets"
    before = client.get(path).get_json()["lastUpdated"]

    started = time.monotonic()
    service.update_pass(issued_pass, {**DATA, "gate": "4"})
    service.update_pass(second_pass, {**DATA, "gate": "5"})
    elapsed = time.monotonic() - started
    jobs.join()

    assert elapsed < 1
    gap = abs(second_pass.updated_at - issued_pass.updated_at)
    assert gap <= timedelta(seconds=1)
    assert int(before) < issued_pass.update_tag < second_pass.update_tag
    listed = client.get(path, query_string={"passesUpdatedSince": before})
    assert listed.status_code == 200
    assert listed.get_json() == {
        "serialNumbers": [issued_pass.serial_number, second_pass.serial_number],
        "lastUpdated": str(second_pass.update_tag),
    }
    newest = str(second_pass.update_tag)
    assert (
        client.get(path, query_string={"passesUpdatedSince": newest}).status_code == 204
    )


def test_each_update_takes_a_larger_tag_and_a_new_last_modified(client, issued_pass):
    path = (
        f"/passkit/v1/passes/{issued_pass.pass_type.pass_type_identifier}/"
        f"{issued_pass.serial_number}"
    )
    auth = {"Authorization": f"ApplePass {issued_pass.authentication_token}"}
    tags, dates = [issued_pass.update_tag], []

    started = time.monotonic()
    for gate in ("4", "5", "6"):
        service.update_pass(issued_pass, {**DATA, "gate": gate})
        tags.append(issued_pass.update_tag)
        response = client.get(path, headers=auth)
        assert response.status_code == 200
        dates.append(response.headers["Last-Modified"])
    elapsed = time.monotonic() - started
    jobs.join()

    # Three versions within a second still carry three distinct dates.
    assert elapsed < 1
    assert tags == sorted(set(tags))
    assert len(set(dates)) == 3
    parsed = [parse_date(date) for date in dates]
    assert parsed == sorted(parsed)
    assert dates[-1] == http_date(issued_pass.updated_at)
    # A device holding the first date must get the newer content.
    refreshed = client.get(path, headers={**auth, "If-Modified-Since": dates[0]})
    assert refreshed.status_code == 200
    assert refreshed.headers["Last-Modified"] == dates[-1]
    same = client.get(path, headers={**auth, "If-Modified-Since": dates[-1]})
    assert same.status_code == 304


# One push per token


def test_one_push_per_token_when_two_passes_change(app, apns, issued_pass, second_pass):
    register_device("e" * 32, issued_pass, FIRST)
    register_device("e" * 32, second_pass, FIRST)

    outcomes = push_pass_updates([issued_pass.id, second_pass.id])

    assert outcomes == {"sent": 1}
    assert [r.token for r in apns.wait_for(1)] == [FIRST]

    jobs.enqueue("app.push.service.push_pass_updates", [issued_pass.id, second_pass.id])
    jobs.join()

    assert [r.token for r in apns.wait_for(2)] == [FIRST, FIRST]
    assert len(apns.requests) == 2
    assert [(a.push_token_suffix, a.outcome) for a in _attempts()] == [
        (FIRST[-8:], "sent"),
        (FIRST[-8:], "sent"),
    ]


def test_each_device_gets_one_push_and_an_attempt_row(
    client, apns, issued_pass, second_pass
):
    tokens = {"1" * 32: FIRST, "2" * 32: SECOND, "3" * 32: THIRD}
    for library_id, token in tokens.items():
        _register(client, issued_pass, library_id, token)
        _register(client, second_pass, library_id, token)
    devices = dict(
        db.session.execute(select(Device.library_identifier, Device.id)).all()
    )

    assert push_pass_updates([issued_pass.id, second_pass.id]) == {"sent": 3}

    assert sorted(r.token for r in apns.requests) == sorted(tokens.values())
    for request in apns.requests:
        assert request.headers["apns-topic"] == "pass.test.passline.tickets"
        assert request.body == b"{}"
    attempts = _attempts()
    assert len(attempts) == 3
    expected = {devices[lib]: token[-8:] for lib, token in tokens.items()}
    assert {a.device_id: a.push_token_suffix for a in attempts} == expected
    for attempt in attempts:
        assert attempt.pass_type_id == issued_pass.pass_type_id
        assert (attempt.outcome, attempt.status_code, attempt.reason) == (
            "sent",
            200,
            None,
        )
        assert attempt.attempts == 1
        assert uuid.UUID(attempt.apns_id)
    # The full token is a credential: no column of push_attempts may hold it.
    rows = db.session.execute(select(PushAttempt.__table__)).all()
    stored = " ".join(str(value) for row in rows for value in row)
    for token in tokens.values():
        assert token not in stored


# Retries


@pytest.mark.parametrize(
    "first", [(429, "TooManyRequests"), (503, "ServiceUnavailable")]
)
def test_throttled_or_unavailable_push_is_retried(apns, issued_pass, first):
    register_device("f" * 32, issued_pass, FIRST)
    apns.respond(FIRST, first, (200, None))

    assert push_pass_updates([issued_pass.id]) == {"sent": 1}

    assert [r.token for r in apns.requests] == [FIRST, FIRST]
    (attempt,) = _attempts()
    assert (attempt.outcome, attempt.status_code, attempt.attempts) == ("sent", 200, 2)
    assert attempt.apns_id


def test_server_error_fails_after_max_attempts(app, apns, issued_pass):
    register_device("f" * 32, issued_pass, FIRST)
    apns.respond(FIRST, (500, "InternalServerError"))
    max_attempts = app.config["APNS_MAX_ATTEMPTS"]
    assert max_attempts > 1

    assert push_pass_updates([issued_pass.id]) == {"failed": 1}

    assert [r.token for r in apns.requests] == [FIRST] * max_attempts
    (attempt,) = _attempts()
    assert (attempt.outcome, attempt.status_code, attempt.reason) == (
        "failed",
        500,
        "InternalServerError",
    )
    assert attempt.attempts == max_attempts
    assert len(_registrations()) == 1


# Answers that change registrations or flag the pass type


def _other_pass_type(merchant):
    """A second pass type of the merchant, with a pass of its own."""
    chain = make_development_chain("pass.test.passline.other", "TESTTEAM01")
    identity = build_identity(
        load_certificate(chain.certificate_pem),
        load_pem_key(chain.key_pem),
        load_certificate(chain.wwdr_pem),
    )
    pass_type = service.create_pass_type(merchant, identity)
    template = service.create_template(pass_type, "Other", demo_design())
    return service.issue_pass(template, DATA)


def test_unregistered_token_loses_only_its_registrations(
    apns, merchant, issued_pass, second_pass
):
    other_pass = _other_pass_type(merchant)
    register_device("gone" * 8, issued_pass, FIRST)
    register_device("gone" * 8, second_pass, FIRST)
    register_device("kept" * 8, issued_pass, SECOND)
    register_device("half" * 8, issued_pass, THIRD)
    register_device("half" * 8, other_pass, THIRD)
    apns.respond(FIRST, (410, "Unregistered"))
    apns.respond(THIRD, (410, "Unregistered"))

    outcomes = push_pass_updates([issued_pass.id, second_pass.id])

    assert outcomes == {"unregistered": 2, "sent": 1}
    assert sorted(r.token for r in apns.requests) == sorted([FIRST, SECOND, THIRD])
    left = [(r.device.library_identifier, r.pass_id) for r in _registrations()]
    assert sorted(left) == sorted(
        [("kept" * 8, issued_pass.id), ("half" * 8, other_pass.id)]
    )
    assert _device_ids() == {"kept" * 8, "half" * 8}
    # One record per registration dropped, the device named though its row went.
    assert _removals() == sorted(
        [
            (issued_pass.id, "gone" * 8, "apns_unregistered"),
            (second_pass.id, "gone" * 8, "apns_unregistered"),
            (issued_pass.id, "half" * 8, "apns_unregistered"),
        ]
    )
    by_suffix = {a.push_token_suffix: a for a in _attempts()}
    for token in (FIRST, THIRD):
        attempt = by_suffix[token[-8:]]
        assert (attempt.outcome, attempt.status_code, attempt.reason) == (
            "unregistered",
            410,
            "Unregistered",
        )
    assert by_suffix[SECOND[-8:]].outcome == "sent"
    # The device row went, so its attempt keeps no link to it.
    assert by_suffix[FIRST[-8:]].device_id is None


def test_removing_more_registrations_than_a_chunk_records_each(
    issued_pass, second_pass
):
    tokens = [_token(n) for n in range(1, 2 * CHUNK + 102)]
    devices = db.session.scalars(
        insert(Device).returning(Device.id, sort_by_parameter_order=True),
        [{"library_identifier": f"device-{n:04d}"} for n in range(len(tokens))],
    ).all()
    db.session.execute(
        insert(Registration),
        [
            {"device_id": device_id, "pass_id": pass_id, "push_token": token}
            for device_id, token in zip(devices, tokens, strict=True)
            for pass_id in (issued_pass.id, second_pass.id)
        ],
    )
    db.session.commit()
    dead = tokens[: 2 * CHUNK + 1]

    remove_registrations(
        issued_pass.pass_type, {token: "apns_unregistered" for token in dead}
    )
    db.session.commit()

    kept = {r.push_token for r in _registrations()}
    assert kept == set(tokens[len(dead) :])
    assert len(_registrations()) == 2 * 100
    assert _removals() == sorted(
        (pass_id, f"device-{n:04d}", "apns_unregistered")
        for n in range(len(dead))
        for pass_id in (issued_pass.id, second_pass.id)
    )
    assert len(_device_ids()) == 100


def test_bad_device_token_for_every_device_flags_the_pass_type(
    apns, issued_pass, second_pass
):
    register_device("1" * 32, issued_pass, FIRST)
    register_device("2" * 32, second_pass, SECOND)
    apns.respond(FIRST, (400, "BadDeviceToken"))
    apns.respond(SECOND, (400, "BadDeviceToken"))

    assert push_pass_updates([issued_pass.id, second_pass.id]) == {
        "bad_device_token": 2
    }

    assert len(_registrations()) == 2
    assert _device_ids() == {"1" * 32, "2" * 32}
    assert _removals() == []
    problem = _problem(issued_pass.pass_type)
    assert "BadDeviceToken" in problem
    assert "APNS_HOST" in problem
    assert issued_pass.pass_type.push_problem_at is not None
    assert [(a.outcome, a.status_code, a.reason) for a in _attempts()] == [
        ("bad_device_token", 400, "BadDeviceToken")
    ] * 2

    # A later push that gets through clears the flag.
    apns.clear()
    assert push_pass_updates([issued_pass.id]) == {"sent": 1}
    assert _problem(issued_pass.pass_type) is None
    assert issued_pass.pass_type.push_problem_at is None


def test_one_bad_device_token_among_good_ones_drops_only_that_token(
    apns, issued_pass, second_pass
):
    register_device("1" * 32, issued_pass, FIRST)
    register_device("2" * 32, issued_pass, SECOND)
    register_device("3" * 32, second_pass, THIRD)
    apns.respond(SECOND, (400, "BadDeviceToken"))

    outcomes = push_pass_updates([issued_pass.id, second_pass.id])

    assert outcomes == {"sent": 2, "bad_device_token": 1}
    assert _problem(issued_pass.pass_type) is None
    assert sorted(r.push_token for r in _registrations()) == sorted([FIRST, THIRD])
    assert _removals() == [(issued_pass.id, "2" * 32, "bad_device_token")]
    outcome_of = {a.push_token_suffix: a.outcome for a in _attempts()}
    assert outcome_of[SECOND[-8:]] == "bad_device_token"


@pytest.mark.parametrize("reason", ["InvalidProviderToken", "BadCertificate"])
def test_refused_certificate_flags_the_pass_type(apns, issued_pass, reason):
    register_device("1" * 32, issued_pass, FIRST)
    register_device("2" * 32, issued_pass, SECOND)
    apns.respond(FIRST, (403, reason))
    apns.respond(SECOND, (403, reason))

    assert push_pass_updates([issued_pass.id]) == {"certificate_rejected": 2}

    # A 403 is not retried: only a new certificate helps.
    assert len(apns.requests) == 2
    problem = _problem(issued_pass.pass_type)
    assert reason in problem
    assert "certificate" in problem
    assert [(a.outcome, a.status_code, a.reason) for a in _attempts()] == [
        ("certificate_rejected", 403, reason)
    ] * 2
    assert len(_registrations()) == 2


# Connections, timing and trust


def test_batches_reuse_the_client_connections(app, apns, issued_pass):
    client = app.extensions["passline.apns"].get(issued_pass.pass_type)
    assert app.extensions["passline.apns"].get(issued_pass.pass_type) is client
    topic = issued_pass.pass_type.pass_type_identifier
    tokens = [_token(n) for n in range(1, 201)]
    before = apns.connections

    first = client.send_notification_batch(tokens, topic)

    assert sorted(first) == sorted(tokens)
    assert all(result.status_code == 200 for result in first.values())
    assert len(apns.requests) == 200
    # The batch spreads over the configured connections, never one per token.
    opened = apns.connections - before
    assert opened == app.config["APNS_CONNECTIONS"] < 200

    second = client.send_notification_batch(tokens[:50], topic)

    assert all(result.status_code == 200 for result in second.values())
    assert len(apns.requests) == 250
    assert apns.connections - before == opened


_release_worker = threading.Event()


def hold_worker() -> None:
    """Keep the job worker busy until the test releases it (run as a job)."""
    if not _release_worker.wait(timeout=10):
        raise TimeoutError("the test never released the job worker")


def test_update_returns_before_the_push(app, apns, issued_pass):
    assert app.config["JOB_QUEUE"] == "thread"
    assert isinstance(app.extensions["passline.jobs"], ThreadQueue)
    register_device("1" * 32, issued_pass, FIRST)
    _release_worker.clear()
    # With the worker held, a push could only have happened inline.
    jobs.enqueue(f"{__name__}.hold_worker")

    try:
        service.update_pass(issued_pass, {**DATA, "gate": "8"})

        assert apns.requests == []
        assert _attempts() == []
        assert issued_pass.data["gate"] == "8"
    finally:
        _release_worker.set()
    jobs.join()

    assert [r.token for r in apns.wait_for(1)] == [FIRST]
    assert [a.outcome for a in _attempts()] == ["sent"]


def test_untrusted_server_certificate_fails_cleanly(app, apns, issued_pass, chain):
    client = APNsClient(
        chain.certificate_pem,
        chain.key_pem,
        host=apns.host,
        port=apns.port,
        ca_bundle=None,
        max_attempts=2,
        retry_delay=0.01,
    )
    try:
        result = client.send_notification(FIRST, "pass.test.passline.tickets")
    finally:
        client.close()
    assert result.status_code is None
    assert result.reason
    assert result.attempts == 2
    assert not result.is_success

    # Through the service, as a failed attempt on record.
    app.config["APNS_CA_BUNDLE"] = None
    register_device("1" * 32, issued_pass, FIRST)

    assert push_pass_updates([issued_pass.id]) == {"failed": 1}

    assert apns.requests == []
    (attempt,) = _attempts()
    assert (attempt.outcome, attempt.status_code) == ("failed", None)
    assert attempt.reason
    assert attempt.attempts == app.config["APNS_MAX_ATTEMPTS"]
    assert len(_registrations()) == 1
    assert db.session.scalar(select(func.count()).select_from(Device)) == 1


def test_a_key_that_cannot_be_decrypted_flags_the_pass_type(app, apns, issued_pass):
    register_device("1" * 32, issued_pass, FIRST)
    app.config["KEY_ENCRYPTION_KEY"] = Fernet.generate_key().decode()

    outcomes = push_pass_updates([issued_pass.id])

    assert outcomes == {}
    assert apns.requests == []
    assert "cannot decrypt" in _problem(issued_pass.pass_type)
    assert len(_registrations()) == 1
