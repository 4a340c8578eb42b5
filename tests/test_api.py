"""The merchant REST API: keys, each endpoint's answers, problems, idempotency."""

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import event, func, select, update

from app import jobs
from app.api import keys
from app.api.idempotency import IN_PROGRESS_LEASE
from app.api.problems import PASS_DATA, VALIDATION
from app.api.schemas import MAX_DATA_KEYS
from app.extensions import db
from app.merchants import create_merchant
from app.models import (
    ApiKey,
    AuditEntry,
    IdempotentRequest,
    Pass,
    SignedBundle,
    WebhookDelivery,
    utcnow,
)
from app.passes import service
from app.push.service import PushSummary, push_passes_now
from app.wallet.registrations import register_device
from app.webhooks import endpoints
from app.webhooks.events import DELIVER_JOB, PASS_UPDATED
from tests.bundle_check import unzip, verify_bundle

DATA = {"holder": "Ann", "seat": "A1", "gate": "3"}
PROBLEM = "application/problem+json"
FIRST, SECOND = f"{0xA1:064x}", f"{0xB2:064x}"


class Api:
    """The test client, sending a bearer key with every call."""

    def __init__(self, client, key: str):
        self.client = client
        self.key = key

    def call(self, method: str, path: str, headers=None, **kwargs):
        headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        return self.client.open(
            "/api/v1" + path, method=method, headers=headers, **kwargs
        )

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.call("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.call("PATCH", path, **kwargs)


@pytest.fixture
def api_key(merchant):
    _, key = keys.create_key(merchant.id, "Box office", "user:1")
    return key


@pytest.fixture
def api(client, api_key):
    return Api(client, api_key)


@pytest.fixture
def rival_api(client):
    rival = create_merchant("Rival", "rival@other.test", "rival password")
    _, key = keys.create_key(rival.id, "Rival script", "user:2")
    return Api(client, key)


def _path(pass_: Pass) -> str:
    return f"/passes/{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}"


def assert_problem(response, status: int, type_: str = "about:blank") -> dict:
    """Check an RFC 9457 problem answer and return its body."""
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = json.loads(response.get_data())
    assert body["status"] == status
    assert body["type"] == type_
    assert body["title"] and body["detail"]
    assert body["instance"] == response.request.path
    return body


def _passes() -> list[Pass]:
    db.session.expire_all()
    return list(db.session.scalars(select(Pass).order_by(Pass.id)))


# The document and the docs page


def test_the_openapi_document_names_every_operation(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    operations = {
        op["operationId"]: (method.upper(), path)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    }
    assert operations == {
        "listTemplates": ("GET", "/api/v1/templates"),
        "listPasses": ("GET", "/api/v1/passes"),
        "createPass": ("POST", "/api/v1/passes"),
        "createPasses": ("POST", "/api/v1/passes/bulk"),
        "updatePasses": ("PATCH", "/api/v1/passes/bulk"),
        "getPass": ("GET", "/api/v1/passes/{pass_type_identifier}/{serial_number}"),
        "updatePass": (
            "PATCH",
            "/api/v1/passes/{pass_type_identifier}/{serial_number}",
        ),
        "voidPass": (
            "POST",
            "/api/v1/passes/{pass_type_identifier}/{serial_number}/void",
        ),
        "getPassBundle": (
            "GET",
            "/api/v1/passes/{pass_type_identifier}/{serial_number}/bundle",
        ),
        "listPassRegistrations": (
            "GET",
            "/api/v1/passes/{pass_type_identifier}/{serial_number}/registrations",
        ),
    }
    assert document["security"] == [{"apiKey": []}]
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    create = document["paths"]["/api/v1/passes"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"]]
    default_error = document["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default_error["content"]) == [PROBLEM]


def test_the_docs_page_uses_vendored_swagger_ui(client):
    page = client.get("/api/v1/docs")

    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "/api/v1/openapi.json" in text
    assert "//" not in text.replace("http://", "").replace("https://", "x")
    for name in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f'"/static/vendor/swagger-ui/{name}"' in text
        asset = client.get(f"/static/vendor/swagger-ui/{name}")
        assert asset.status_code == 200
        assert len(asset.get_data()) > 100_000
        asset.close()


# Authentication


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer pl_not-a-key", "Basic dXNlcjpwYXNz", "pl_abc"],
)
def test_calls_without_a_working_key_get_401(client, api_key, header):
    headers = {"Authorization": header} if header else {}

    response = client.get("/api/v1/passes", headers=headers)

    body = assert_problem(response, 401)
    assert "Bearer" in body["detail"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_gets_401(api, merchant):
    assert api.get("/passes").status_code == 200
    api_key = db.session.scalar(select(ApiKey).filter_by(merchant_id=merchant.id))

    keys.revoke_key(api_key, "user:1")

    assert_problem(api.get("/passes"), 401)
    entry = db.session.scalar(select(AuditEntry).filter_by(action="api_key.revoked"))
    assert entry.actor == "user:1" and api_key.prefix in entry.subject


def test_keys_are_stored_hashed_with_a_visible_prefix_and_last_use(api, merchant):
    (stored,) = db.session.scalars(select(ApiKey)).all()
    assert stored.last_used_at is None

    assert api.get("/templates").status_code == 200

    db.session.expire_all()
    assert api.key.startswith("pl_") and len(api.key) >= 40
    assert stored.prefix == api.key[:11]
    assert stored.key_hash == keys.hash_key(api.key) != api.key
    row = db.session.execute(select(ApiKey.__table__)).one()
    assert api.key not in " ".join(str(value) for value in row)
    assert utcnow() - stored.last_used_at < timedelta(minutes=1)


# Templates and passes


def test_templates_list_their_placeholders(api, template, rival_api):
    response = api.get("/templates")

    assert response.status_code == 200
    assert response.get_json() == {
        "items": [
            {
                "id": template.id,
                "name": "Concert",
                "style": template.style,
                "pass_type_identifier": "pass.test.passline.tickets",
                "placeholders": ["gate", "holder", "seat"],
            }
        ]
    }
    assert rival_api.get("/templates").get_json() == {"items": []}


def test_create_issues_a_pass_with_a_download_link(api, client, template):
    response = api.post(
        "/passes",
        json={
            "template_id": template.id,
            "data": {**DATA, "seat": 12},
            "serial_number": "TICKET-1",
            "customer_email": "Ann@Example.com",
        },
    )

    assert response.status_code == 201
    body = response.get_json()
    url = "https://passline.test/api/v1/passes/pass.test.passline.tickets/TICKET-1"
    assert response.headers["Location"] == url
    assert body["url"] == url
    assert body["bundle_url"] == url + "/bundle"
    assert {k: body[k] for k in ("serial_number", "template_id", "data")} == {
        "serial_number": "TICKET-1",
        "template_id": template.id,
        "data": {**DATA, "seat": 12},
    }
    assert body["customer_email"] == "ann@example.com"
    assert (body["voided"], body["devices"]) == (False, 0)
    assert body["created_at"].endswith("+00:00")
    (stored,) = _passes()
    assert (stored.serial_number, stored.data["seat"]) == ("TICKET-1", 12)
    assert body["download_url"].startswith("https://passline.test/p/")
    page = client.get(body["download_url"].removeprefix("https://passline.test"))
    assert page.status_code == 200


def test_create_without_a_serial_picks_one(api, template):
    response = api.post("/passes", json={"template_id": template.id, "data": DATA})

    assert response.status_code == 201
    (stored,) = _passes()
    assert response.get_json()["serial_number"] == stored.serial_number
    assert len(stored.serial_number) == 20


def test_create_refuses_bad_input_with_problems(api, rival_api, template):
    missing = api.post("/passes", json={"data": DATA})
    body = assert_problem(missing, 422, "urn:passline:problem:invalid-request")
    assert "template_id" in body["errors"]["json"]

    wrong_types = api.post(
        "/passes",
        json={"template_id": "1", "data": {"seat": True}, "serial_number": "a b"},
    )
    body = assert_problem(wrong_types, 422, "urn:passline:problem:invalid-request")
    assert set(body["errors"]["json"]) == {"template_id", "data", "serial_number"}

    not_json = api.post(
        "/passes", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(not_json, 400, "urn:passline:problem:invalid-request")

    unknown = api.post("/passes", json={"template_id": 999_999, "data": DATA})
    body = assert_problem(unknown, 422, "urn:passline:problem:invalid-request")
    assert body["errors"] == {
        "json": {"template_id": ["You have no template with this id."]}
    }
    # Another merchant's template is as unknown as one that does not exist.
    others = rival_api.post("/passes", json={"template_id": template.id, "data": DATA})
    assert json.loads(others.get_data())["errors"] == body["errors"]

    no_gate = api.post(
        "/passes", json={"template_id": template.id, "data": {"holder": "Ann"}}
    )
    body = assert_problem(no_gate, 422, "urn:passline:problem:invalid-pass-data")
    assert "{{gate}}" in body["detail"] or "{{seat}}" in body["detail"]
    assert _passes() == []


def test_a_taken_serial_is_a_409_problem(api, template):
    payload = {"template_id": template.id, "data": DATA, "serial_number": "S-1"}
    assert api.post("/passes", json=payload).status_code == 201

    again = api.post("/passes", json=payload)

    body = assert_problem(again, 409, "urn:passline:problem:serial-taken")
    assert "S-1" in body["detail"]
    assert len(_passes()) == 1


def test_get_answers_the_pass_and_404_for_another_merchant(api, rival_api, issued_pass):
    response = api.get(_path(issued_pass))

    assert response.status_code == 200
    body = response.get_json()
    assert body["serial_number"] == issued_pass.serial_number
    assert body["data"] == DATA
    assert body["download_url"] is None

    assert_problem(rival_api.get(_path(issued_pass)), 404)
    assert_problem(rival_api.get(_path(issued_pass) + "/bundle"), 404)
    assert_problem(rival_api.get(_path(issued_pass) + "/registrations"), 404)
    assert_problem(rival_api.patch(_path(issued_pass), json={"data": {}}), 404)
    assert_problem(rival_api.post(_path(issued_pass) + "/void"), 404)
    assert_problem(api.get("/passes/pass.test.passline.tickets/nope"), 404)
    assert not _passes()[0].is_voided


def test_list_pages_with_a_cursor_and_filters(api, rival_api, template):
    for n in range(5):
        service.issue_pass(template, DATA, f"P{n}")
    service.update_pass(_passes()[1], is_voided=True)

    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"after": cursor} if cursor else {})}
        response = api.get("/passes", query_string=query)
        assert response.status_code == 200
        body = response.get_json()
        seen += [item["serial_number"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == ["P4", "P3", "P2", "P1", "P0"]
    assert pages == 3
    voided = api.get("/passes", query_string={"voided": "true"}).get_json()
    assert [item["serial_number"] for item in voided["items"]] == ["P1"]
    by_template = api.get("/passes", query_string={"template_id": template.id})
    assert len(by_template.get_json()["items"]) == 5
    assert rival_api.get("/passes").get_json() == {"items": [], "next_cursor": None}

    bad_queries = [
        {"after": "x1"},
        {"after": "9999999999"},
        {"limit": 0},
        {"limit": 101},
        {"voided": "maybe"},
    ]
    for bad in bad_queries:
        assert_problem(
            api.get("/passes", query_string=bad),
            422,
            "urn:passline:problem:invalid-request",
        )


def test_update_merges_data_resigns_and_summarizes_pushes(
    api, apns, issued_pass, template
):
    register_device("a" * 32, issued_pass, FIRST)
    register_device("b" * 32, issued_pass, SECOND)
    apns.respond(SECOND, (410, "Unregistered"))
    before = issued_pass.update_tag

    response = api.patch(_path(issued_pass), json={"data": {"seat": "B7"}})

    assert response.status_code == 200
    body = response.get_json()
    assert body["pushes"] == {
        "push_tokens": 2,
        "sent": 1,
        "failed": 0,
        "unregistered": 1,
        "bad_device_token": 0,
        "certificate_rejected": 0,
    }
    assert body["pass"]["data"] == {**DATA, "seat": "B7"}
    assert body["pass"]["devices"] == 1
    assert sorted(r.token for r in apns.requests) == sorted([FIRST, SECOND])
    (stored,) = _passes()
    assert stored.data == {**DATA, "seat": "B7"} and stored.update_tag > before
    signed = db.session.get(SignedBundle, stored.id)
    assert signed is not None and signed.update_tag == stored.update_tag
    assert b"B7" in unzip(signed.content)["pass.json"]


def test_pushing_now_signs_pushes_and_sums_up_for_the_api(apns, issued_pass):
    register_device("a" * 32, issued_pass, FIRST)
    register_device("b" * 32, issued_pass, SECOND)
    apns.respond(SECOND, (400, "BadDeviceToken"))

    summary = push_passes_now([issued_pass])

    assert summary.push_tokens == 2
    assert summary.as_dict() == {
        "push_tokens": 2,
        "sent": 1,
        "failed": 0,
        "unregistered": 0,
        "bad_device_token": 1,
        "certificate_rejected": 0,
    }
    assert sorted(r.token for r in apns.requests) == sorted([FIRST, SECOND])
    signed = db.session.get(SignedBundle, issued_pass.id)
    assert signed is not None and signed.update_tag == issued_pass.update_tag
    assert push_passes_now([]) == PushSummary()
    assert PushSummary().as_dict()["push_tokens"] == 0


def test_update_without_devices_pushes_nothing(api, apns, issued_pass):
    response = api.patch(_path(issued_pass), json={"data": {"gate": 9}})

    assert response.status_code == 200
    assert response.get_json()["pushes"]["push_tokens"] == 0
    assert _passes()[0].data["gate"] == 9
    assert apns.requests == []


def test_update_with_bad_data_changes_nothing(api, issued_pass):
    tag = issued_pass.update_tag

    bad_value = api.patch(_path(issued_pass), json={"data": {"seat": ["A", "B"]}})
    assert_problem(bad_value, 422, "urn:passline:problem:invalid-request")
    no_data = api.patch(_path(issued_pass), json={})
    assert_problem(no_data, 422, "urn:passline:problem:invalid-request")
    control = api.patch(_path(issued_pass), json={"data": {"seat": "A\x00"}})
    assert_problem(control, 422, "urn:passline:problem:invalid-request")
    bad_key = api.patch(_path(issued_pass), json={"data": {"se at\x00": "A"}})
    body = assert_problem(bad_key, 422, "urn:passline:problem:invalid-request")
    assert "data" in body["errors"]["json"]

    (stored,) = _passes()
    assert (stored.data, stored.update_tag) == (DATA, tag)


def test_void_pushes_once_and_is_audited(api, apns, issued_pass, merchant):
    register_device("a" * 32, issued_pass, FIRST)

    response = api.post(_path(issued_pass) + "/void")

    assert response.status_code == 200
    body = response.get_json()
    assert body["pass"]["voided"] is True
    assert (body["pushes"]["push_tokens"], body["pushes"]["sent"]) == (1, 1)
    assert _passes()[0].is_voided
    api_key = db.session.scalar(select(ApiKey).filter_by(merchant_id=merchant.id))
    entry = db.session.scalar(select(AuditEntry).filter_by(action="pass.voided"))
    assert entry.actor == f"api_key:{api_key.id}"

    again = api.post(_path(issued_pass) + "/void")

    assert again.status_code == 200
    assert again.get_json()["pushes"]["push_tokens"] == 0
    assert len(apns.requests) == 1


def test_bundle_is_the_signed_pass(api, issued_pass, chain_files, tmp_path):
    response = api.get(_path(issued_pass) + "/bundle")

    assert response.status_code == 200
    assert response.mimetype == "application/vnd.apple.pkpass"
    assert response.headers["Last-Modified"]
    assert issued_pass.serial_number in response.headers["Content-Disposition"]
    files = verify_bundle(response.get_data(), chain_files / "root.pem", tmp_path)
    pass_json = json.loads(files["pass.json"])
    assert pass_json["serialNumber"] == issued_pass.serial_number
    assert pass_json["authenticationToken"] == issued_pass.authentication_token


def test_registrations_show_devices_without_full_tokens(api, issued_pass):
    register_device("device-" + "c" * 25, issued_pass, FIRST)

    response = api.get(_path(issued_pass) + "/registrations")

    assert response.status_code == 200
    (item,) = response.get_json()["items"]
    assert item["device"] == "…" + "c" * 6
    assert item["push_token"] == "…" + FIRST[-4:]
    assert FIRST not in response.get_data(as_text=True)
    assert item["registered_at"].endswith("+00:00")


# Bulk calls


def test_bulk_create_issues_good_items_and_reports_bad_ones(api, template):
    items = [
        {"template_id": template.id, "data": DATA, "serial_number": "B-1"},
        {"template_id": 999_999, "data": DATA},
        {"template_id": template.id, "data": {"holder": "Bob"}},
        {"template_id": template.id, "data": DATA, "serial_number": "bad serial"},
        {"template_id": template.id, "data": DATA, "serial_number": "B-1"},
        {"template_id": template.id, "data": DATA, "serial_number": "B-2"},
    ]

    response = api.post("/passes/bulk", json={"items": items})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["created"], body["failed"]) == (2, 4)
    assert [r["index"] for r in body["results"]] == list(range(6))
    assert [r["status"] for r in body["results"]] == [201, 422, 422, 422, 409, 201]
    assert body["results"][0]["pass"]["serial_number"] == "B-1"
    assert body["results"][5]["pass"]["download_url"].startswith("https://")
    problems = [r["problem"]["type"] for r in body["results"] if "problem" in r]
    assert problems == [
        "urn:passline:problem:invalid-request",
        "urn:passline:problem:invalid-pass-data",
        "urn:passline:problem:invalid-request",
        "urn:passline:problem:serial-taken",
    ]
    assert "serial_number" in body["results"][3]["problem"]["errors"]["json"]
    assert [p.serial_number for p in _passes()] == ["B-1", "B-2"]


def test_bulk_calls_refuse_an_empty_or_oversized_list(api, template):
    assert_problem(
        api.post("/passes/bulk", json={"items": []}),
        422,
        "urn:passline:problem:invalid-request",
    )
    item = {"template_id": template.id, "data": DATA}
    too_many = api.post("/passes/bulk", json={"items": [item] * 101})
    assert_problem(too_many, 422, "urn:passline:problem:invalid-request")
    not_objects = api.patch("/passes/bulk", json={"items": [1, 2]})
    assert_problem(not_objects, 422, "urn:passline:problem:invalid-request")
    assert _passes() == []


def test_bulk_update_pushes_every_changed_pass_once(api, apns, template):
    first = service.issue_pass(template, DATA, "U-1")
    second = service.issue_pass(template, DATA, "U-2")
    # One device holds both passes: one push token, one push.
    register_device("a" * 32, first, FIRST)
    register_device("a" * 32, second, FIRST)
    register_device("b" * 32, second, SECOND)
    ptid = "pass.test.passline.tickets"

    response = api.patch(
        "/passes/bulk",
        json={
            "items": [
                {
                    "pass_type_identifier": ptid,
                    "serial_number": "U-1",
                    "data": {"seat": "C1"},
                },
                {"pass_type_identifier": ptid, "serial_number": "NONE", "data": {}},
                {
                    "pass_type_identifier": ptid,
                    "serial_number": "U-2",
                    "data": {"seat": []},
                },
                {
                    "pass_type_identifier": ptid,
                    "serial_number": "U-2",
                    "data": {"seat": "C2"},
                },
            ]
        },
    )

    assert response.status_code == 200
    body = response.get_json()
    assert [r["status"] for r in body["results"]] == [200, 404, 422, 200]
    assert (body["updated"], body["failed"]) == (2, 2)
    assert body["pushes"]["push_tokens"] == 2
    assert body["pushes"]["sent"] == 2
    assert sorted(r.token for r in apns.requests) == sorted([FIRST, SECOND])
    assert [p.data["seat"] for p in _passes()] == ["C1", "C2"]
    assert body["results"][3]["pass"]["data"]["seat"] == "C2"


def test_bulk_update_records_its_webhook_events_in_one_go(
    app, api, template, merchant, redis_url
):
    serials = ["E-1", "E-2", "E-3"]
    for serial in serials:
        service.issue_pass(template, DATA, serial)
    endpoints.create_endpoint(
        merchant.id, "http://127.0.0.1:9/hook", [PASS_UPDATED], actor="test"
    )
    # Jobs wait in Redis, so each one queued can be counted.
    Redis.from_url(redis_url).flushdb()
    app.config.update(
        JOB_QUEUE="rq", REDIS_URL=redis_url, RQ_QUEUE="passline-api", JOB_TIMEOUT=10
    )
    app.extensions["passline.jobs"] = jobs.RedisQueue(app)
    queue = Queue("passline-api", connection=Redis.from_url(redis_url))
    lookups = []

    def count_lookups(_conn, _cursor, statement, *_args):
        if "FROM webhook_endpoints" in statement:
            lookups.append(statement)

    ptid = "pass.test.passline.tickets"
    items = [
        {"pass_type_identifier": ptid, "serial_number": s, "data": {"seat": "D4"}}
        for s in serials
    ]
    event.listen(db.engine, "before_cursor_execute", count_lookups)
    try:
        response = api.patch("/passes/bulk", json={"items": items})
    finally:
        event.remove(db.engine, "before_cursor_execute", count_lookups)

    assert response.status_code == 200
    assert response.get_json()["updated"] == 3
    assert len(lookups) == 1
    assert [job.func_name for job in queue.get_jobs()] == [DELIVER_JOB]
    deliveries = db.session.scalars(select(WebhookDelivery)).all()
    assert sorted(d.payload["data"]["serialNumber"] for d in deliveries) == serials
    assert {d.event_type for d in deliveries} == {PASS_UPDATED}
    assert len({d.event_id for d in deliveries}) == 3


# Idempotency


def test_a_repeated_create_with_the_same_key_is_replayed(api, template):
    payload = {"template_id": template.id, "data": DATA}
    headers = {"Idempotency-Key": "order-1234"}

    first = api.post("/passes", json=payload, headers=headers)
    # The same JSON, spaced and ordered differently, is the same request.
    again = api.post(
        "/passes",
        data=json.dumps(dict(reversed(payload.items())), indent=2),
        headers={**headers, "Content-Type": "application/json"},
    )

    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(_passes()) == 1

    changed = api.post(
        "/passes", json={**payload, "data": {**DATA, "seat": "Z"}}, headers=headers
    )
    assert_problem(changed, 422, "urn:passline:problem:idempotency-key-reused")
    assert len(_passes()) == 1

    plain = api.post("/passes", json=payload)
    assert plain.status_code == 201
    assert len(_passes()) == 2


def test_idempotency_keys_belong_to_one_merchant(api, rival_api, template, chain):
    headers = {"Idempotency-Key": "shared-key"}
    api.post(
        "/passes", json={"template_id": template.id, "data": DATA}, headers=headers
    )

    # The rival's request with the same key is its own: it is not replayed.
    response = rival_api.post(
        "/passes", json={"template_id": template.id, "data": DATA}, headers=headers
    )

    assert_problem(response, 422, "urn:passline:problem:invalid-request")
    assert db.session.scalar(select(func.count(IdempotentRequest.id))) == 1


def test_failed_requests_free_their_key_and_old_keys_expire(api, template):
    headers = {"Idempotency-Key": "retry-me"}
    bad = api.post("/passes", json={"template_id": template.id}, headers=headers)
    assert bad.status_code == 422

    good = api.post(
        "/passes", json={"template_id": template.id, "data": DATA}, headers=headers
    )
    assert good.status_code == 201

    db.session.execute(
        update(IdempotentRequest).values(created_at=utcnow() - timedelta(hours=25))
    )
    db.session.commit()
    other = api.post(
        "/passes",
        json={"template_id": template.id, "data": {**DATA, "seat": "Q"}},
        headers=headers,
    )
    assert other.status_code == 201
    assert len(_passes()) == 2
    assert db.session.scalar(select(func.count(IdempotentRequest.id))) == 1


def test_a_key_still_being_answered_is_a_409_problem(api, template):
    payload = {"template_id": template.id, "data": DATA}
    headers = {"Idempotency-Key": "slow-one"}
    assert api.post("/passes", json=payload, headers=headers).status_code == 201
    # As if the first request were still running in another process.
    db.session.execute(update(IdempotentRequest).values(status_code=None))
    db.session.commit()

    response = api.post("/passes", json=payload, headers=headers)

    assert_problem(response, 409, "urn:passline:problem:idempotency-key-in-use")
    assert response.headers["Retry-After"] == "1"
    assert len(_passes()) == 1


def test_a_retry_takes_over_a_key_abandoned_past_its_lease(api, template):
    payload = {"template_id": template.id, "data": DATA}
    headers = {"Idempotency-Key": "crashed-one"}
    assert api.post("/passes", json=payload, headers=headers).status_code == 201

    def started(ago: timedelta) -> None:
        # As if the first request's process had died before it answered.
        db.session.execute(
            update(IdempotentRequest).values(
                status_code=None, response_body=None, created_at=utcnow() - ago
            )
        )
        db.session.commit()

    started(IN_PROGRESS_LEASE - timedelta(minutes=1))
    within_lease = api.post("/passes", json=payload, headers=headers)
    assert_problem(within_lease, 409, "urn:passline:problem:idempotency-key-in-use")

    started(IN_PROGRESS_LEASE + timedelta(seconds=5))
    other_body = api.post(
        "/passes", json={**payload, "data": {**DATA, "seat": "Z"}}, headers=headers
    )
    assert_problem(other_body, 422, "urn:passline:problem:idempotency-key-reused")
    retry = api.post("/passes", json=payload, headers=headers)

    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert len(_passes()) == 2
    db.session.expire_all()
    stored = db.session.scalar(select(IdempotentRequest))
    assert stored.status_code == 201
    assert utcnow() - stored.created_at < timedelta(minutes=1)
    again = api.post("/passes", json=payload, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == retry.get_json()
    assert len(_passes()) == 2


def test_bulk_create_honours_the_idempotency_key(api, template):
    payload = {"items": [{"template_id": template.id, "data": DATA}] * 3}
    headers = {"Idempotency-Key": "batch-7"}

    first = api.post("/passes/bulk", json=payload, headers=headers)
    again = api.post("/passes/bulk", json=payload, headers=headers)

    assert first.get_json()["created"] == 3
    assert again.get_json() == first.get_json()
    assert len(_passes()) == 3


def test_a_malformed_idempotency_key_is_a_400_problem(api, template):
    response = api.post(
        "/passes",
        json={"template_id": template.id, "data": DATA},
        headers={"Idempotency-Key": "x" * 256},
    )

    assert_problem(response, 400, "urn:passline:problem:invalid-request")
    assert _passes() == []


# Errors in general


def test_every_api_error_is_a_problem(app, api):
    def fail():
        raise RuntimeError("secret detail")

    app.add_url_rule("/api/v1/test-failure", "test_failure", fail)

    assert_problem(api.get("/nothing-here"), 404)
    method = api.call("DELETE", "/passes")
    assert_problem(method, 405)
    assert "POST" in method.headers["Allow"]
    failure = api.get("/test-failure")
    body = assert_problem(failure, 500)
    assert "secret" not in failure.get_data(as_text=True)
    assert body["detail"]


def test_too_many_calls_get_a_429_problem(app, api):
    app.config["API_RATE_LIMIT"] = "2 per minute"

    statuses = [api.get("/templates").status_code for _ in range(2)]
    limited = api.get("/templates")

    assert statuses == [200, 200]
    assert_problem(limited, 429)


def test_made_up_keys_count_against_their_address(app, client, api):
    app.config["API_RATE_LIMIT"] = "3 per minute"

    def made_up(n: int):
        headers = {"Authorization": f"Bearer pl_made-up-{n}"}
        return client.get("/api/v1/templates", headers=headers)

    statuses = [made_up(n).status_code for n in range(3)]
    fourth = made_up(3)
    no_header = client.get("/api/v1/templates")

    assert statuses == [401, 401, 401]
    assert_problem(fourth, 429)
    assert_problem(no_header, 429)
    # A working key has a count of its own, not its address's.
    assert api.get("/templates").status_code == 200


def test_a_key_is_counted_once_however_its_header_is_written(
    app, client, api, merchant
):
    app.config["API_RATE_LIMIT"] = "2 per minute"
    _, other_key = keys.create_key(merchant.id, "Second script", "user:1")

    def call(header: str):
        return client.get("/api/v1/templates", headers={"Authorization": header})

    first = call(f"Bearer {api.key}")
    second = call(f"bearer {api.key}")
    limited = call(f"BEARER  {api.key}")

    assert (first.status_code, second.status_code) == (200, 200)
    assert_problem(limited, 429)
    assert call(f"Bearer {other_key}").status_code == 200


def test_api_calls_need_no_csrf_token(app, api, template):
    assert app.config.get("WTF_CSRF_ENABLED", True)

    response = api.post("/passes", json={"template_id": template.id, "data": DATA})

    assert response.status_code == 201
    assert len(_passes()) == 1


# A merchant's script


def test_a_script_issues_and_updates_a_pass_knowing_only_the_document(
    live_server, api_key, template
):
    """Over real HTTP, every path and method is taken from openapi.json."""
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=live_server, headers=headers, timeout=10) as http:
        document = http.get("/api/v1/openapi.json").json()
        operations = {
            operation["operationId"]: (method.upper(), path)
            for path, item in document["paths"].items()
            for method, operation in item.items()
            if method != "parameters"
        }

        def call(operation_id, names=None, **kwargs):
            method, path = operations[operation_id]
            return http.request(method, path.format(**(names or {})), **kwargs)

        (found,) = call("listTemplates").json()["items"]
        data = {name: f"{name} 1" for name in found["placeholders"]}
        created = call(
            "createPass",
            json={"template_id": found["id"], "data": data},
            headers={"Idempotency-Key": "script-run-1"},
        )
        assert created.status_code == 201
        names = {
            key: created.json()[key]
            for key in ("pass_type_identifier", "serial_number")
        }
        changed = call("updatePass", names, json={"data": {"seat": "Z9"}})
        fetched = call("getPass", names)
        bundle = call("getPassBundle", names)

    assert changed.status_code == 200
    assert changed.json()["pushes"]["push_tokens"] == 0
    assert fetched.json()["data"] == {**data, "seat": "Z9"}
    assert bundle.headers["Content-Type"] == "application/vnd.apple.pkpass"
    assert (
        json.loads(unzip(bundle.content)["pass.json"])["serialNumber"]
        == (names["serial_number"])
    )
    (stored,) = _passes()
    assert stored.data["seat"] == "Z9"


def test_bulk_update_refuses_a_pass_type_id_no_database_can_hold(api, issued_pass):
    item = {"pass_type_identifier": "pass.\x00x", "serial_number": "S", "data": {}}

    response = api.patch("/passes/bulk", json={"items": [item]})

    assert response.status_code == 200
    (result,) = response.get_json()["results"]
    assert result["status"] == 422
    assert "pass_type_identifier" in result["problem"]["errors"]["json"]


# Layering


def test_the_api_does_not_import_the_dashboard():
    code = (
        "import sys, app.api.passes; "
        "print([m for m in sys.modules if m.startswith('app.dashboard')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )

    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/passes", '{"template_id": 1, "data": {"holder": "\\ud800"}}'),
        (
            "POST",
            "/passes",
            '{"template_id": 1, "customer_email": "a@\\udfff.example", "data": {}}',
        ),
        (
            "POST",
            "/passes/bulk",
            '{"items": [{"template_id": 1, "data": {"\\ud83d": 1}}]}',
        ),
        ("PATCH", "/passes/bulk", '{"items": [{"data": {"holder": "x\\udc00"}}]}'),
    ],
)
def test_a_lone_surrogate_is_refused_before_anything_is_stored(
    api, issued_pass, method, path, body
):
    response = api.call(
        method, path, data=body, headers={"Content-Type": "application/json"}
    )

    problem = assert_problem(response, 400, VALIDATION)
    assert "surrogate" in problem["detail"]
    assert [p.id for p in _passes()] == [issued_pass.id]
    assert issued_pass.data == DATA


def test_a_lone_surrogate_in_a_change_is_refused(api, issued_pass):
    response = api.patch(
        _path(issued_pass),
        data='{"data": {"holder": "\\ud800"}}',
        headers={"Content-Type": "application/json"},
    )

    assert_problem(response, 400, VALIDATION)
    db.session.expire_all()
    assert issued_pass.data == DATA


def test_json_nested_past_reading_is_a_400_problem(api, template):
    body = '{"template_id": 1, "data": ' + "[" * 100_000 + "]" * 100_000 + "}"

    response = api.post(
        "/passes", data=body, headers={"Content-Type": "application/json"}
    )

    problem = assert_problem(response, 400, VALIDATION)
    assert "nested too deeply" in problem["detail"]
    assert _passes() == []


def test_changes_cannot_grow_a_pass_past_its_value_limit(api, issued_pass):
    more = {f"extra{number}": "x" for number in range(MAX_DATA_KEYS - 2)}

    response = api.patch(_path(issued_pass), json={"data": more})

    problem = assert_problem(response, 422, PASS_DATA)
    assert f"would hold {MAX_DATA_KEYS + 1}" in problem["detail"]
    db.session.expire_all()
    assert issued_pass.data == DATA


def test_a_change_to_the_same_values_makes_no_new_version(api, issued_pass, apns):
    register_device("a" * 32, issued_pass, FIRST)
    tag, modified_at = issued_pass.update_tag, issued_pass.updated_at

    same = api.patch(_path(issued_pass), json={"data": {"seat": "A1"}})
    empty = api.patch(_path(issued_pass), json={"data": {}})

    for response in (same, empty):
        assert response.status_code == 200
        assert response.get_json()["pushes"]["push_tokens"] == 0
    db.session.expire_all()
    assert (issued_pass.update_tag, issued_pass.updated_at) == (tag, modified_at)
    assert apns.requests == []
