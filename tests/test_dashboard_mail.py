"""Emailing download links from the dashboard: one pass, a search, the batch page."""

import html
import re

import pytest
from sqlalchemy import select

from app import jobs
from app.demo import demo_design
from app.downloads.links import link_url
from app.extensions import db
from app.mail import RepeatedMailRequest, start_mail_batch
from app.merchants import create_merchant
from app.models import (
    MAIL_FAILED,
    MAIL_SENT,
    DownloadLink,
    MailBatch,
    MailDelivery,
    User,
)
from app.passes import service
from tests.conftest import csrf_token

BATCH_PAGE = re.compile(r"/dashboard/mail/(\d+)")
NONCE = re.compile(r'name="nonce" type="hidden" value="([^"]+)"')


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _batches() -> list[MailBatch]:
    db.session.expire_all()
    return list(db.session.scalars(select(MailBatch).order_by(MailBatch.id)))


def _deliveries(batch_id: int) -> list[tuple]:
    return [
        (d.pass_id, d.email, d.status, d.error)
        for d in db.session.scalars(
            select(MailDelivery).filter_by(batch_id=batch_id).order_by(MailDelivery.id)
        )
    ]


def _nonce(client, path: str) -> str:
    """Return the nonce of the mail form the page at path shows."""
    match = NONCE.search(client.get(path).get_data(as_text=True))
    assert match, f"no mail form nonce on {path}"
    return match.group(1)


def _owner_id() -> int:
    return db.session.scalar(select(User.id).filter_by(email="owner@venue.test"))


@pytest.fixture
def issue(template):
    def issue(email, tmpl=None, **data):
        values = {"holder": "Guest", "seat": "A1", "gate": "3", **data}
        return service.issue_pass(tmpl or template, values, customer_email=email)

    return issue


@pytest.fixture
def signed_in(client, auth, merchant):
    auth.login()
    return csrf_token(client, "/dashboard/passes")


# One pass


def test_the_owner_emails_a_passs_link(client, signed_in, smtp, issue):
    pass_ = issue("ann@guests.test")
    page = _text(client.get(f"/dashboard/passes/{pass_.id}"))
    assert "Email the link to ann@guests.test" in page

    nonce = _nonce(client, f"/dashboard/passes/{pass_.id}")

    response = client.post(
        f"/dashboard/passes/{pass_.id}/email",
        data={"csrf_token": signed_in, "nonce": nonce},
    )
    jobs.join()

    [batch] = _batches()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/dashboard/mail/{batch.id}"
    assert (batch.total, batch.sent, batch.failed) == (1, 1, 0)
    assert batch.created_by == f"user:{_owner_id()}"
    assert _deliveries(batch.id) == [(pass_.id, "ann@guests.test", MAIL_SENT, None)]
    [received] = smtp.received
    assert received.rcpt_tos == ["ann@guests.test"]
    link = db.session.get(DownloadLink, db.session.scalar(select(MailDelivery.link_id)))
    body = received.message.get_body(preferencelist=("plain",)).get_content()
    assert link_url(link) in body

    page = client.get(f"/dashboard/mail/{batch.id}")
    text = _text(page)
    assert page.status_code == 200
    assert "Emailing the download link to ann@guests.test." in text
    assert 'data-finished="true"' in text
    assert '<span data-progress="sent">1</span>' in text
    assert "owner@venue.test" in text
    progress = client.get(f"/dashboard/mail/{batch.id}/progress")
    assert progress.get_json() == {
        "total": 1,
        "done": 1,
        "sent": 1,
        "failed": 0,
        "finished": True,
    }


def test_a_second_identical_post_does_not_email_twice(client, signed_in, smtp, issue):
    pass_ = issue("ann@guests.test")
    path = f"/dashboard/passes/{pass_.id}"
    data = {"csrf_token": signed_in, "nonce": _nonce(client, path)}

    first = client.post(f"{path}/email", data=data)
    second = client.post(f"{path}/email", data=data)
    jobs.join()

    [batch] = _batches()
    assert first.headers["Location"] == f"/dashboard/mail/{batch.id}"
    assert second.status_code == 302
    assert second.headers["Location"] == f"/dashboard/mail/{batch.id}"
    assert [r.rcpt_tos for r in smtp.received] == [["ann@guests.test"]]
    page = _text(client.get(f"/dashboard/mail/{batch.id}"))
    assert "These emails were already started: nothing was sent twice." in page

    # The page shown again carries a new nonce: sending on purpose still works.
    again = client.post(
        f"{path}/email", data={"csrf_token": signed_in, "nonce": _nonce(client, path)}
    )
    jobs.join()
    assert again.headers["Location"] == f"/dashboard/mail/{_batches()[-1].id}"
    assert len(_batches()) == 2
    assert len(smtp.received) == 2


def test_emailing_without_the_nonce_is_refused(client, signed_in, smtp, issue):
    pass_ = issue("ann@guests.test")

    response = client.post(
        f"/dashboard/passes/{pass_.id}/email", data={"csrf_token": signed_in}
    )

    assert response.status_code == 400
    assert _batches() == []


def test_a_nonce_starts_one_batch_per_merchant(app, smtp, issue):
    pass_ = issue("ann@guests.test")
    merchant_id = pass_.pass_type.merchant_id
    first = start_mail_batch(merchant_id, [pass_.id], actor="cli", nonce="n-1")

    with pytest.raises(RepeatedMailRequest) as caught:
        start_mail_batch(merchant_id, [pass_.id], actor="cli", nonce="n-1")

    assert caught.value.batch_id == first.id
    # Another merchant's form may by chance carry the same nonce.
    rival = create_merchant("Rival", "rival@other.test", "rival password")
    other = start_mail_batch(rival.id, [], actor="cli", nonce="n-1")
    jobs.join()
    assert [b.id for b in _batches()] == [first.id, other.id]


def test_a_pass_without_email_cannot_be_emailed(client, signed_in, smtp, issue):
    pass_ = issue(None)
    path = f"/dashboard/passes/{pass_.id}"
    page = _text(client.get(path))
    assert re.search(
        r"<button type=\"submit\" disabled[^>]*>Email the link</button>", page
    )
    assert "The pass has no customer email" in page

    response = client.post(
        f"{path}/email", data={"csrf_token": signed_in, "nonce": _nonce(client, path)}
    )

    assert (response.status_code, response.headers["Location"]) == (302, path)
    assert "no customer email to send the link to" in _text(client.get(path))
    assert _batches() == []
    jobs.join()
    assert smtp.received == []


def test_emailing_needs_the_csrf_token(client, signed_in, smtp, issue):
    pass_ = issue("ann@guests.test")

    response = client.post(f"/dashboard/passes/{pass_.id}/email")

    assert response.status_code == 400
    assert _batches() == []


def test_another_merchants_pass_is_not_emailed(client, auth, smtp, issue):
    pass_ = issue("ann@guests.test")
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    token = csrf_token(client, "/dashboard/passes")
    # The rival's own pages show no mail form: none of its passes has an email.
    nonce = "rival-form-nonce"

    response = client.post(
        f"/dashboard/passes/{pass_.id}/email",
        data={"csrf_token": token, "nonce": nonce},
    )

    assert response.status_code == 404
    assert _batches() == []


# Every pass of a search


@pytest.fixture
def shows(issue, template):
    """Passes of two templates, with and without emails, one voided."""
    other = service.create_template(template.pass_type, "Matinee", demo_design())
    passes = {
        "ann": issue("ann@guests.test"),
        "none": issue(None),
        "gone": issue("gone@guests.test"),
        "void": issue("void@guests.test"),
        "matinee": issue("mat@guests.test", other),
    }
    service.update_pass(passes["void"], is_voided=True)
    return passes


def test_the_owner_emails_every_pass_of_a_search(client, signed_in, smtp, shows):
    smtp.refuse("gone@guests.test", "550 5.1.1 <gone@guests.test>: unknown user")
    template_id = shows["ann"].template_id
    listing = _text(client.get(f"/dashboard/passes?template={template_id}"))
    assert f'href="/dashboard/mail/new?template={template_id}"' in listing

    confirm = _text(client.get(f"/dashboard/mail/new?template={template_id}"))
    assert "4 passes match" in confirm
    assert "<strong>2</strong>" in confirm
    assert f'<input type="hidden" name="template" value="{template_id}">' in confirm
    assert "Email 2 links" in confirm

    nonce = _nonce(client, f"/dashboard/mail/new?template={template_id}")

    response = client.post(
        "/dashboard/mail",
        data={"template": template_id, "csrf_token": signed_in, "nonce": nonce},
    )
    jobs.join()

    [batch] = _batches()
    assert response.headers["Location"] == f"/dashboard/mail/{batch.id}"
    assert (batch.total, batch.sent, batch.failed) == (2, 1, 1)
    assert _deliveries(batch.id) == [
        (shows["ann"].id, "ann@guests.test", MAIL_SENT, None),
        (
            shows["gone"].id,
            "gone@guests.test",
            MAIL_FAILED,
            "550 5.1.1 <gone@guests.test>: unknown user",
        ),
    ]
    assert [r.rcpt_tos for r in smtp.received] == [["ann@guests.test"]]

    page = _text(client.get(f"/dashboard/mail/{batch.id}"))
    assert "Emailing download links to 2 customers." in page
    assert shows["gone"].serial_number in page
    assert "550 5.1.1 <gone@guests.test>: unknown user" in page
    assert shows["ann"].serial_number not in page
    listing = _text(client.get("/dashboard/mail"))
    assert f'href="/dashboard/mail/{batch.id}"' in listing
    assert "owner@venue.test" in listing


def test_a_search_sent_twice_emails_once(client, signed_in, smtp, shows):
    template_id = shows["ann"].template_id
    nonce = _nonce(client, f"/dashboard/mail/new?template={template_id}")
    data = {"template": template_id, "csrf_token": signed_in, "nonce": nonce}

    first = client.post("/dashboard/mail", data=data)
    second = client.post("/dashboard/mail", data=data)
    jobs.join()

    [batch] = _batches()
    assert first.headers["Location"] == second.headers["Location"]
    assert second.headers["Location"] == f"/dashboard/mail/{batch.id}"
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [
        "ann@guests.test",
        "gone@guests.test",
    ]


def test_a_search_without_emails_sends_nothing(client, signed_in, smtp, shows):
    response = client.post(
        "/dashboard/mail",
        data={
            "voided": "yes",
            "csrf_token": signed_in,
            "nonce": _nonce(client, "/dashboard/mail/new"),
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard/passes?voided=yes"
    text = _text(client.get("/dashboard/passes?voided=yes"))
    assert "No pass matching these filters has a customer email." in text
    assert _batches() == []
    confirm = _text(client.get("/dashboard/mail/new?voided=yes"))
    assert "<strong>0</strong>" in confirm
    assert 'action="/dashboard/mail"' not in confirm


def test_a_search_by_another_merchants_template_is_404(client, auth, shows):
    create_merchant("Rival", "rival@other.test", "rival password")
    auth.login("rival@other.test", "rival password")
    token = csrf_token(client, "/dashboard/passes")
    # The rival's own pages show no mail form: none of its passes has an email.
    nonce = "rival-form-nonce"
    template_id = shows["ann"].template_id

    assert client.get(f"/dashboard/mail/new?template={template_id}").status_code == 404
    response = client.post(
        "/dashboard/mail",
        data={"template": template_id, "csrf_token": token, "nonce": nonce},
    )

    assert response.status_code == 404
    assert _batches() == []
    # Without a filter, the rival's search matches none of the owner's passes.
    response = client.post(
        "/dashboard/mail", data={"csrf_token": token, "nonce": nonce}
    )
    assert response.headers["Location"] == "/dashboard/passes"
    assert _batches() == []
