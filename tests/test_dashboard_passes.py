"""The pass pages: list, search, filters, keyset pages, one pass, editing, voiding."""

import html
import io
import json
import re
import secrets
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select
from werkzeug.http import http_date

from app import jobs
from app.demo import demo_design
from app.devchain import make_development_chain
from app.downloads.links import create_link, link_url
from app.extensions import db
from app.merchants import create_merchant
from app.models import (
    AuditEntry,
    Pass,
    PushAttempt,
    RegistrationRemoval,
    Template,
    TemplateImage,
    utcnow,
)
from app.passes import queries, service
from app.push.service import push_pass_updates
from tests.conftest import csrf_token
from tests.test_dashboard_templates import _member_template

ROOT = Path(__file__).resolve().parent.parent
DEVICE = "8f2a6c1e9b0d4e7fa3c5b1d2e4f60718"
PUSH_TOKEN = "0123456789abcdef" * 4
ROW = re.compile(r'<a href="/dashboard/passes/(\d+)">([^<]+)</a>')
NEXT = re.compile(r'<a href="([^"]+)" rel="next">')


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _serials(response) -> list[str]:
    assert response.status_code == 200
    return [serial for _, serial in ROW.findall(response.get_data(as_text=True))]


def _next_url(response) -> str | None:
    match = NEXT.search(response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


def _issue(template, serial, customer_email=None, **data):
    values = {"holder": "Ann", "seat": "A1", "gate": "3", **data}
    return service.issue_pass(
        template, values, serial_number=serial, customer_email=customer_email
    )


def _register(client, pass_, device=DEVICE, push_token=PUSH_TOKEN):
    """Register a device for the pass through the Wallet web service."""
    response = client.post(
        f"/passkit/v1/devices/{device}/registrations/"
        f"{pass_.pass_type.pass_type_identifier}/{pass_.serial_number}",
        json={"pushToken": push_token},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


def _bulk_insert(template, count, voided_every=0):
    """Insert passes straight into the table; return their ids, oldest first."""
    now = utcnow().replace(microsecond=0)
    rows = [
        {
            "pass_type_id": template.pass_type_id,
            "template_id": template.id,
            "serial_number": f"BULK-{number:04d}",
            "authentication_token": secrets.token_urlsafe(24),
            "data": {"holder": f"Guest {number}", "seat": "A1", "gate": "3"},
            "is_voided": bool(voided_every) and number % voided_every == 0,
            "update_tag": 1000 + number,
            "updated_at": now + timedelta(seconds=number),
        }
        for number in range(count)
    ]
    db.session.execute(insert(Pass), rows)
    db.session.commit()
    return list(db.session.scalars(select(Pass.id).order_by(Pass.id)))


@pytest.fixture(scope="session")
def rival_chain():
    return make_development_chain("pass.test.rival.tickets", "RIVALTEAM1")


@pytest.fixture
def rival_template(rival_chain):
    """Another merchant's template, with one pass."""
    rival = create_merchant("Rival", "rival@other.test", "rival password")
    pass_type = service.create_pass_type(rival, rival_chain.identity())
    template = service.create_template(pass_type, "Rival show", demo_design())
    _issue(template, "RIVAL-1", holder="Rita")
    return template


@pytest.fixture
def second_template(pass_type):
    return service.create_template(pass_type, "Festival", demo_design())


def test_list_shows_the_merchants_passes_newest_first(
    client, auth, template, rival_template
):
    for serial in ("A-1", "A-2", "A-3"):
        _issue(template, serial)
    auth.login()

    response = client.get("/dashboard/passes")

    assert _serials(response) == ["A-3", "A-2", "A-1"]
    text = _text(response)
    assert "RIVAL-1" not in text
    assert "Rival show" not in text
    assert "Concert" in text
    assert _next_url(response) is None


def test_serial_prefix_search(client, auth, template):
    for serial in ("GA-001", "GA-002", "VIP-001", "ga-003", "A_1", "AB1"):
        _issue(template, serial)
    auth.login()

    def search(prefix):
        return _serials(
            client.get("/dashboard/passes", query_string={"serial": prefix})
        )

    assert search("GA-") == ["GA-002", "GA-001"]
    assert search("ga") == ["ga-003"]
    assert search("VIP-001") == ["VIP-001"]
    # "_" and "%" are literal characters, not LIKE wildcards.
    assert search("A_") == ["A_1"]
    assert search("A%") == []
    assert search("GA-0019") == []
    # The search box shows what was searched for.
    assert (
        'name="serial" value="GA-"' in client.get("/dashboard/passes?serial=GA-").text
    )


def test_the_serial_search_also_finds_customer_emails(
    client, auth, template, rival_template
):
    _issue(template, "ann-1")
    _issue(template, "E-1", customer_email="ann@venue.example")
    _issue(template, "E-2", customer_email="Anna.B+vip@Venue.example")
    _issue(template, "E-3", customer_email="bob@venue.example")
    _issue(template, "E-4")
    _issue(rival_template, "R-1", customer_email="ann@venue.example")
    auth.login()

    def search(prefix):
        return _serials(
            client.get("/dashboard/passes", query_string={"serial": prefix})
        )

    assert search("ann") == ["E-2", "E-1", "ann-1"]
    # Emails are kept in lower case, so any case finds them.
    assert search("ANN@") == ["E-1"]
    assert search("anna.b+") == ["E-2"]
    assert search("bob@venue.example") == ["E-3"]
    assert search("bob@venue.example.") == []
    assert search("E-") == ["E-4", "E-3", "E-2", "E-1"]
    # A prefix, not a substring; "%" and "_" are literal.
    assert search("venue") == []
    assert search("%@venue") == []
    assert search("ann_") == []
    # The label says what the box searches.
    page = _text(client.get("/dashboard/passes"))
    assert "<span>Serial or email starts with</span>" in page


def test_data_search(client, auth, template):
    _issue(template, "P-1", holder="Zoë Quinn")
    _issue(template, "P-2", holder="Ann Lee", seat="100% VIP")
    _issue(template, "P-3", holder="Ben Lee", seat='Row "B"')
    auth.login()

    def search(text, **filters):
        query = {"text": text, **filters}
        return _serials(client.get("/dashboard/passes", query_string=query))

    assert search("Zoë") == ["P-1"]
    assert search("quinn") == ["P-1"]
    assert search("lee") == ["P-3", "P-2"]
    assert search("100%") == ["P-2"]
    assert search('"B"') == ["P-3"]
    assert search("nobody") == []
    # Within the other filters.
    assert search("lee", serial="P-2") == ["P-2"]


def test_filters(client, auth, template, second_template):
    first = _issue(template, "T1-registered")
    _issue(template, "T1-voided")
    _issue(second_template, "T2-plain")
    service.update_pass(
        db.session.scalar(select(Pass).filter_by(serial_number="T1-voided")),
        is_voided=True,
    )
    _register(client, first)
    auth.login()

    def listed(**query):
        return _serials(client.get("/dashboard/passes", query_string=query))

    assert listed(template=template.id) == ["T1-voided", "T1-registered"]
    assert listed(template=second_template.id) == ["T2-plain"]
    assert listed(voided="yes") == ["T1-voided"]
    assert listed(voided="no") == ["T2-plain", "T1-registered"]
    assert listed(devices="yes") == ["T1-registered"]
    assert listed(devices="no") == ["T2-plain", "T1-voided"]
    assert listed(template=template.id, voided="no", devices="no") == []
    # The registered pass's row counts its device.
    page = client.get("/dashboard/passes?devices=yes").get_data(as_text=True)
    assert "<td>1</td>" in page


def test_keyset_pages_list_each_pass_once(client, auth, template):
    ids = _bulk_insert(template, 120, voided_every=3)
    auth.login()

    pages, url = [], "/dashboard/passes"
    while url:
        response = client.get(url)
        pages.append([int(i) for i, _ in ROW.findall(response.get_data(as_text=True))])
        url = _next_url(response)

    assert [len(page) for page in pages] == [50, 50, 20]
    listed = [pass_id for page in pages for pass_id in page]
    assert listed == sorted(ids, reverse=True)

    # Filters travel with the cursor; 80 of the 120 passes are not voided.
    pages, url = [], "/dashboard/passes?voided=no&text=guest"
    while url:
        response = client.get(url)
        pages.append(_serials(response))
        url = _next_url(response)
        assert url is None or ("voided=no" in url and "text=guest" in url)

    assert [len(page) for page in pages] == [50, 30]
    expected = [f"BULK-{n:04d}" for n in reversed(range(120)) if n % 3]
    assert [serial for page in pages for serial in page] == expected


@pytest.mark.parametrize(
    ("query", "status", "listed"),
    [
        ({"template": "abc"}, 200, ["B-2", "B-1"]),
        ({"template": ""}, 200, ["B-2", "B-1"]),
        ({"template": "-1"}, 200, ["B-2", "B-1"]),
        ({"template": "999999"}, 404, None),
        ({"template": "99999999999999999999999999"}, 200, ["B-2", "B-1"]),
        ({"after": "abc"}, 200, ["B-2", "B-1"]),
        ({"after": "1e9"}, 200, ["B-2", "B-1"]),
        ({"after": "99999999999999999999999999"}, 200, ["B-2", "B-1"]),
        ({"after": "0"}, 200, []),
        ({"voided": "maybe", "devices": "1"}, 200, ["B-2", "B-1"]),
        ({"serial": "%"}, 200, []),
        ({"serial": "ü" * 300}, 200, []),
        ({"text": "x" * 5000}, 200, []),
        ({"text": "\\"}, 200, []),
    ],
)
def test_bad_parameters_never_fail(client, auth, template, query, status, listed):
    _issue(template, "B-1")
    _issue(template, "B-2")
    auth.login()

    response = client.get("/dashboard/passes", query_string=query)

    assert response.status_code == status
    if listed is not None:
        assert _serials(response) == listed


def test_another_merchants_template_filter_is_404(
    client, auth, template, rival_template
):
    auth.login()

    response = client.get(f"/dashboard/passes?template={rival_template.id}")

    assert response.status_code == 404


def test_detail_shows_devices_links_and_log(client, auth, issued_pass):
    link = create_link(issued_pass)
    _register(client, issued_pass)
    serial = issued_pass.serial_number
    log_line = (
        f"[2026-03-06 08:05:52 +0000] Get pass task (pass type "
        f"{issued_pass.pass_type.pass_type_identifier}, serial number {serial}, "
        "if-modified-since (null); with web service url https://passline.test) "
        "encountered error: Unexpected response code 500"
    )
    response = client.post("/passkit/v1/log", json={"logs": [log_line]})
    assert response.status_code == 200
    auth.login()

    response = client.get(f"/dashboard/passes/{issued_pass.id}")

    assert response.status_code == 200
    text = _text(response)
    assert f"Pass {serial}" in text
    assert "<td>holder</td><td>Ann</td>" in text
    assert "<td>seat</td><td>A1</td>" in text
    assert f"<dd>{issued_pass.update_tag}</dd>" in text
    assert f"<dd>{http_date(issued_pass.updated_at)}</dd>" in text
    assert link_url(link) in text
    assert "…" + DEVICE[-6:] in text
    assert "…" + PUSH_TOKEN[-4:] in text
    assert PUSH_TOKEN not in text
    assert PUSH_TOKEN[-8:] not in text
    assert DEVICE not in text
    assert log_line in text
    # The form offers the template's placeholders, not the serial number.
    assert re.findall(r'name="(value-[^"]+)"', text) == [
        "value-gate",
        "value-holder",
        "value-seat",
    ]
    assert 'name="value-holder" type="text" value="Ann"' in text


def test_detail_lists_removed_devices(client, auth, template, issued_pass, apns):
    other_pass = _issue(template, "OTHER-1")
    gone_device, dead_device = "a1b2c3d4e5f6" * 2 + "0a1b2c", "0f" * 16
    dead_token = "fe" * 32
    _register(client, issued_pass, device=gone_device)
    _register(client, issued_pass, device=dead_device, push_token=dead_token)
    _register(client, other_pass, device=gone_device)
    unregistered = client.delete(
        f"/passkit/v1/devices/{gone_device}/registrations/"
        f"{issued_pass.pass_type.pass_type_identifier}/{issued_pass.serial_number}",
        headers={"Authorization": f"ApplePass {issued_pass.authentication_token}"},
    )
    assert unregistered.status_code == 200
    apns.respond(dead_token, (410, "Unregistered"))
    assert push_pass_updates([issued_pass.id]) == {"unregistered": 1}
    auth.login()

    text = _text(client.get(f"/dashboard/passes/{issued_pass.id}"))

    removed = text[text.index("<h2>Removed devices</h2>") :]
    removed = removed[: removed.index("</table>")]
    rows = re.findall(
        r"<td>(…\w{6})</td>\s*<td>([^<]+)</td>\s*<td>([\d-]+ [\d:]+)</td>", removed
    )
    removals = db.session.scalars(
        select(RegistrationRemoval).order_by(RegistrationRemoval.id.desc())
    ).all()
    assert [r.pass_id for r in removals] == [issued_pass.id, issued_pass.id]
    assert rows == [
        (
            "…" + dead_device[-6:],
            "removed after APNs answered 410: the pass is gone",
            removals[0].removed_at.strftime("%Y-%m-%d %H:%M:%S"),
        ),
        (
            "…" + gone_device[-6:],
            "the device removed the pass",
            removals[1].removed_at.strftime("%Y-%m-%d %H:%M:%S"),
        ),
    ]
    assert gone_device not in text
    assert dead_device not in text
    # The same device still holds the other pass: nothing removed there.
    other = _text(client.get(f"/dashboard/passes/{other_pass.id}"))
    assert "No device has been removed." in other
    assert f"<td>…{gone_device[-6:]}</td>" in other


def test_detail_lists_the_latest_20_removals(client, auth, issued_pass):
    db.session.execute(
        insert(RegistrationRemoval),
        [
            {
                "pass_id": issued_pass.id,
                "library_identifier": f"device-{n:06d}",
                "reason": "bad_device_token",
                "removed_at": utcnow() - timedelta(minutes=30 - n),
            }
            for n in range(25)
        ],
    )
    db.session.commit()
    auth.login()

    text = _text(client.get(f"/dashboard/passes/{issued_pass.id}"))

    removed = text[text.index("<h2>Removed devices</h2>") :]
    removed = removed[: removed.index("</table>")]
    hints = re.findall(r"<td>…(\d{6})</td>", removed)
    assert hints == [f"{n:06d}" for n in range(24, 4, -1)]
    assert removed.count("removed: APNs does not know the push token") == 20


def _statements(run) -> list[str]:
    """Run the callable; return the SQL statements it sent to the database."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return sent


def test_registrations_load_their_devices_in_the_same_query(client, issued_pass):
    devices = [f"{n:02d}" * 16 for n in range(5)]
    for device in devices:
        _register(client, issued_pass, device=device)
    pass_id = issued_pass.id
    # Nothing from the registrations above may answer from the session's map.
    db.session.expunge_all()
    pass_ = db.session.get(Pass, pass_id)
    found = []

    sent = _statements(
        lambda: found.extend(
            (r.device.library_identifier, r.push_token)
            for r in queries.registrations(pass_)
        )
    )

    assert found == [(device, PUSH_TOKEN) for device in reversed(devices)]
    assert len(sent) == 1
    assert "devices" in sent[0]


def test_the_pass_page_queries_do_not_grow_with_its_devices(client, auth, issued_pass):
    _register(client, issued_pass, device="00" * 16)
    auth.login()
    path = f"/dashboard/passes/{issued_pass.id}"
    client.get(path)

    def page_statements() -> int:
        db.session.expunge_all()
        return len(_statements(lambda: client.get(path)))

    one_device = page_statements()
    for n in range(1, 5):
        _register(client, issued_pass, device=f"{n:02d}" * 16)
    five_devices = page_statements()

    assert five_devices == one_device
    assert _text(client.get(path)).count("<td>…" + PUSH_TOKEN[-4:] + "</td>") == 5


def test_saving_data_resigns_and_pushes(client, auth, issued_pass, apns):
    _register(client, issued_pass)
    before = issued_pass.update_tag
    auth.login()
    path = f"/dashboard/passes/{issued_pass.id}"

    response = client.post(
        f"{path}/data",
        data={
            "value-holder": "Bea Ortiz",
            "value-seat": "B7",
            "value-gate": "5",
            "csrf_token": csrf_token(client, path),
        },
    )

    assert (response.status_code, response.headers["Location"]) == (302, path)
    db.session.expire_all()
    assert issued_pass.data == {"holder": "Bea Ortiz", "seat": "B7", "gate": "5"}
    assert issued_pass.update_tag > before
    bundle = zipfile.ZipFile(io.BytesIO(service.signed_bundle(issued_pass)))
    pass_json = json.loads(bundle.read("pass.json"))
    auxiliary = pass_json["eventTicket"]["auxiliaryFields"]
    assert [f["value"] for f in auxiliary] == ["5", "B7"]
    jobs.join()
    assert [r.token for r in apns.wait_for(1)] == [PUSH_TOKEN]

    page = client.get(path)
    text = _text(page)
    assert "Saved. Devices with the pass are being updated." in text
    assert "<td>holder</td><td>Bea Ortiz</td>" in text
    attempt = db.session.scalars(select(PushAttempt)).one()
    assert attempt.outcome == "sent"
    assert (
        f"<td>…{DEVICE[-6:]}</td>\n          <td>sent</td>\n          <td>200</td>"
        in text
    )


def test_numbers_stay_numbers(client, auth, template):
    pass_ = _issue(template, "N-1", gate=3)
    auth.login()
    path = f"/dashboard/passes/{pass_.id}"
    fields = {"value-holder": "Ann", "value-seat": "A1"}

    refused = client.post(
        f"{path}/data",
        data={**fields, "value-gate": "three", "csrf_token": csrf_token(client, path)},
    )
    saved = client.post(
        f"{path}/data",
        data={**fields, "value-gate": " 7 ", "csrf_token": csrf_token(client, path)},
    )

    assert refused.status_code == 200
    assert "This value is a number: enter a number." in _text(refused)
    assert saved.status_code == 302
    db.session.expire_all()
    assert pass_.data["gate"] == 7


@pytest.fixture
def dated_pass(pass_type):
    """A pass whose doors field is a date filled from pass data."""
    design = demo_design()
    design.design["eventTicket"]["auxiliaryFields"].append(
        {
            "key": "doors",
            "label": "DOORS",
            "value": "{{doors}}",
            "dateStyle": "PKDateStyleShort",
            "timeStyle": "PKDateStyleShort",
        }
    )
    # Stored directly: create_template checks a design with "sample" in every
    # placeholder, which a date-styled field refuses.
    template = Template(
        merchant_id=pass_type.merchant_id,
        pass_type=pass_type,
        name="Dated",
        style=design.style,
        design=design.design,
        localizations=design.localizations,
        images=[TemplateImage(path=p, content=c) for p, c in design.images.items()],
    )
    db.session.add(template)
    db.session.commit()
    return _issue(template, "D-1", doors="2027-06-12T18:30:00+02:00")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "value-doors",
            "tomorrow",
            "field 'doors' has a date style, so its value must be a date",
        ),
        ("value-seat", "A\x001", "Use printable characters only."),
        ("value-holder", "x" * 2001, "Field cannot be longer than 2000 characters."),
    ],
)
def test_bad_data_shows_its_message_and_changes_nothing(
    client, auth, dated_pass, apns, field, value, message
):
    _register(client, dated_pass)
    before = (dict(dated_pass.data), dated_pass.update_tag, dated_pass.updated_at)
    auth.login()
    path = f"/dashboard/passes/{dated_pass.id}"
    data = {f"value-{k}": str(v) for k, v in dated_pass.data.items()}

    response = client.post(
        f"{path}/data",
        data={**data, field: value, "csrf_token": csrf_token(client, path)},
    )

    assert response.status_code == 200
    text = _text(response)
    assert message in text
    # What was typed stays in the form; the table shows what is stored.
    if field == "value-doors":
        assert 'name="value-doors" type="text" value="tomorrow"' in text
        assert "<td>doors</td><td>2027-06-12T18:30:00+02:00</td>" in text
    db.session.expire_all()
    after = (dated_pass.data, dated_pass.update_tag, dated_pass.updated_at)
    assert after == before
    jobs.join()
    assert apns.requests == []


def test_voiding_a_pass(client, auth, issued_pass, merchant, apns):
    _register(client, issued_pass)
    auth.login()
    path = f"/dashboard/passes/{issued_pass.id}"
    before = issued_pass.update_tag

    response = client.post(
        f"{path}/void", data={"csrf_token": csrf_token(client, path)}
    )

    assert (response.status_code, response.headers["Location"]) == (302, path)
    db.session.expire_all()
    assert issued_pass.is_voided
    assert issued_pass.update_tag > before
    entry = db.session.scalars(select(AuditEntry).filter_by(action="pass.voided")).one()
    user_id = merchant.users[0].id
    assert (entry.subject, entry.actor, entry.merchant_id) == (
        issued_pass.serial_number,
        f"user:{user_id}",
        merchant.id,
    )
    bundle = zipfile.ZipFile(io.BytesIO(service.signed_bundle(issued_pass)))
    assert json.loads(bundle.read("pass.json"))["voided"] is True
    jobs.join()
    assert [r.token for r in apns.wait_for(1)] == [PUSH_TOKEN]
    page = _text(client.get(path))
    assert "The pass is voided." in page
    assert "Void this pass" not in page

    again = client.post(f"{path}/void", data={"csrf_token": csrf_token(client, path)})

    assert again.status_code == 302
    assert "The pass is already voided." in _text(client.get(path))
    count = select(func.count(AuditEntry.id)).filter_by(action="pass.voided")
    assert db.session.scalar(count) == 1


def test_another_merchant_gets_404_on_every_pass_route(client, auth, issued_pass):
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    token = csrf_token(client, "/dashboard/passes")
    path = f"/dashboard/passes/{issued_pass.id}"
    before = (dict(issued_pass.data), issued_pass.update_tag)

    answers = [
        client.get(path).status_code,
        client.post(
            f"{path}/data", data={"value-holder": "Eve", "csrf_token": token}
        ).status_code,
        client.post(f"{path}/void", data={"csrf_token": token}).status_code,
        client.get("/dashboard/passes/999999").status_code,
    ]

    assert answers == [404, 404, 404, 404]
    assert issued_pass.serial_number not in _text(client.get("/dashboard/passes"))
    db.session.expire_all()
    assert (issued_pass.data, issued_pass.update_tag) == before
    assert not issued_pass.is_voided
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).filter_by(action="pass.voided")
        )
        == 0
    )


def test_posts_without_a_csrf_token_are_refused(client, auth, issued_pass):
    auth.login()
    path = f"/dashboard/passes/{issued_pass.id}"
    before = (dict(issued_pass.data), issued_pass.update_tag)

    edit = client.post(f"{path}/data", data={"value-holder": "Eve"})
    void = client.post(f"{path}/void")

    assert (edit.status_code, void.status_code) == (400, 400)
    assert "CSRF" in edit.get_data(as_text=True)
    db.session.expire_all()
    assert (issued_pass.data, issued_pass.update_tag) == before
    assert not issued_pass.is_voided


def test_anonymous_visitors_are_sent_to_login(client, issued_pass):
    for path in ("/dashboard/passes", f"/dashboard/passes/{issued_pass.id}"):
        response = client.get(path)

        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/login?next=")


def test_pass_page_previews_the_pass_with_its_own_data(client, auth, issued_pass):
    auth.login()

    page = client.get(f"/dashboard/passes/{issued_pass.id}").get_data(as_text=True)

    preview = page[page.index('class="pass-preview') :]
    assert "TICKET HOLDER" in preview
    assert "Ann" in preview
    assert "Summer Night Live" in preview
    assert 'src="data:image/png;base64,' in preview[preview.index("pass-barcode") :]


# Confirmations, a voided pass's data, a barcode made from the data


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


def test_void_revoke_and_remove_forms_ask_first(client, auth, issued_pass):
    auth.login()
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


def test_saving_the_same_data_changes_nothing(client, auth, issued_pass, apns):
    tag = issued_pass.update_tag
    auth.login()
    path = f"/dashboard/passes/{issued_pass.id}"

    response = client.post(
        f"{path}/data",
        data={
            "value-holder": "Ann",
            "value-seat": "A1",
            "value-gate": "3",
            "csrf_token": csrf_token(client, path),
        },
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert "Nothing changed: the pass is as it was" in _text(response)
    jobs.join()
    db.session.expire_all()
    assert issued_pass.update_tag == tag
    assert apns.requests == []
