"""Emailing download links: the messages a real SMTP server receives, and outcomes."""

import json
import re
from datetime import timedelta
from email.utils import parseaddr
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from app import jobs
from app.demo import demo_design
from app.devchain import make_development_chain
from app.downloads.links import create_link, create_order_link, link_url
from app.extensions import db
from app.mail import batches, run_mail_batch, start_mail_batch
from app.merchants import create_merchant
from app.models import (
    MAIL_FAILED,
    MAIL_QUEUED,
    MAIL_SENT,
    DownloadLink,
    DownloadLinkPass,
    MailBatch,
    MailDelivery,
    utcnow,
)
from app.passes import service
from app.passes.bundle import PKPASS_MIME
from tests.bundle_check import verify_bundle

SUBJECT = "Your pass from Passline Live: Passline Live concert ticket"
LINK = re.compile(r"https://passline\.test/p/[\w-]+")


@pytest.fixture
def issue(template):
    """Issue passes of the template, each to the email given (or none)."""

    def issue(*emails):
        return [
            service.issue_pass(
                template,
                {"holder": f"Guest {number}", "seat": f"A{number}", "gate": "3"},
                customer_email=email,
            )
            for number, email in enumerate(emails, 1)
        ]

    return issue


def _run(merchant_id, passes, actor="user:1") -> MailBatch:
    batch = start_mail_batch(merchant_id, [p.id for p in passes], actor)
    jobs.join()
    db.session.expire_all()
    return db.session.get(MailBatch, batch.id)


def _deliveries(batch: MailBatch) -> list[tuple]:
    return [
        (d.pass_id, d.email, d.status, d.error)
        for d in db.session.scalars(
            select(MailDelivery).filter_by(batch_id=batch.id).order_by(MailDelivery.id)
        )
    ]


def _parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def test_messages_arrive_with_the_link_in_both_parts(smtp, merchant, issue):
    passes = issue("ann@guests.test", "Bob@Guests.test")

    batch = _run(merchant.id, passes)

    assert (batch.total, batch.sent, batch.failed) == (2, 2, 0)
    assert batch.finished_at is not None
    assert batch.created_by == "user:1"
    deliveries = list(
        db.session.scalars(select(MailDelivery).order_by(MailDelivery.id))
    )
    assert [(d.pass_id, d.email, d.status, d.error) for d in deliveries] == [
        (passes[0].id, "ann@guests.test", MAIL_SENT, None),
        (passes[1].id, "bob@guests.test", MAIL_SENT, None),
    ]
    assert all(d.sent_at is not None for d in deliveries)
    received = smtp.received
    assert [r.rcpt_tos for r in received] == [["ann@guests.test"], ["bob@guests.test"]]
    # Both over one connection.
    assert len({r.peer for r in received}) == 1
    for delivery, pass_, found in zip(deliveries, passes, received, strict=True):
        link = db.session.get(DownloadLink, delivery.link_id)
        assert [p.id for p in link.passes] == [pass_.id]
        url = link_url(link)
        message = found.message
        assert parseaddr(message["From"]) == ("Test Venue", "passes@localhost")
        assert found.mail_from == "passes@localhost"
        assert message["To"] == delivery.email
        assert message["Subject"] == SUBJECT
        assert message.get_content_type() == "multipart/alternative"
        text, html = _parts(message)
        assert LINK.findall(text) == [url]
        assert f'<a href="{url}"' in html
        assert "Add to Apple Wallet" in html
        assert "Passline Live concert ticket" in text
        # Nothing for the mail app to fetch: no images, no style sheets.
        assert "<img" not in html
        assert "<link" not in html
        assert set(re.findall(r"https?://[^\s\"'<]+", html)) == {url}


def test_a_refused_recipient_is_recorded_and_the_batch_goes_on(smtp, merchant, issue):
    smtp.refuse("gone@guests.test", "550 5.1.1 <gone@guests.test>: no such user")
    passes = issue("ann@guests.test", "gone@guests.test", "cy@guests.test")

    batch = _run(merchant.id, passes)

    assert (batch.total, batch.sent, batch.failed) == (3, 2, 1)
    assert _deliveries(batch) == [
        (passes[0].id, "ann@guests.test", MAIL_SENT, None),
        (
            passes[1].id,
            "gone@guests.test",
            MAIL_FAILED,
            "550 5.1.1 <gone@guests.test>: no such user",
        ),
        (passes[2].id, "cy@guests.test", MAIL_SENT, None),
    ]
    assert [r.rcpt_tos for r in smtp.received] == [
        ["ann@guests.test"],
        ["cy@guests.test"],
    ]
    # The refusal did not cost the connection.
    assert len({r.peer for r in smtp.received}) == 1
    refused = db.session.scalar(select(MailDelivery).filter_by(status=MAIL_FAILED))
    assert (refused.link_id, refused.sent_at) == (None, None)


def test_a_rejected_message_is_recorded_with_the_reason(smtp, merchant, issue):
    smtp.reply_to_data("554 5.7.1 Message rejected as spam")
    passes = issue("ann@guests.test", "bob@guests.test")

    batch = _run(merchant.id, passes)

    assert (batch.sent, batch.failed) == (1, 1)
    assert [d[2:] for d in _deliveries(batch)] == [
        (MAIL_FAILED, "554 5.7.1 Message rejected as spam"),
        (MAIL_SENT, None),
    ]
    assert [r.rcpt_tos for r in smtp.received] == [["bob@guests.test"]]


def test_passes_without_email_or_voided_are_recorded_failed(smtp, merchant, issue):
    passes = issue(None, "ann@guests.test", "void@guests.test")
    service.update_pass(passes[2], is_voided=True)

    batch = _run(merchant.id, passes)

    assert (batch.total, batch.sent, batch.failed) == (3, 1, 2)
    assert _deliveries(batch) == [
        (passes[0].id, None, MAIL_FAILED, "no email address"),
        (passes[1].id, "ann@guests.test", MAIL_SENT, None),
        (passes[2].id, "void@guests.test", MAIL_FAILED, "the pass is voided"),
    ]
    assert [r.rcpt_tos for r in smtp.received] == [["ann@guests.test"]]


def test_a_batch_with_nothing_to_send_is_finished_at_once(smtp, merchant, issue):
    passes = issue(None, None)

    batch = start_mail_batch(merchant.id, [p.id for p in passes], "cli")

    assert (batch.total, batch.sent, batch.failed) == (2, 0, 2)
    assert batch.finished_at is not None
    jobs.join()
    assert smtp.received == []


def test_an_unreachable_server_fails_the_deliveries_with_the_reason(
    smtp, merchant, issue
):
    passes = issue("ann@guests.test", "bob@guests.test")

    with smtp.down():
        batch = _run(merchant.id, passes)

    assert (batch.total, batch.sent, batch.failed) == (2, 0, 2)
    assert batch.finished_at is not None
    for _, _, status, error in _deliveries(batch):
        assert status == MAIL_FAILED
        assert error.startswith("could not send through the mail server: ")
        assert "Connection refused" in error
    assert smtp.received == []


def test_a_server_closing_the_connection_is_tried_again(smtp, merchant, issue):
    smtp.reply_to_data("421 4.3.2 Service shutting down")
    passes = issue("ann@guests.test", "bob@guests.test")

    batch = _run(merchant.id, passes)

    assert (batch.sent, batch.failed) == (2, 0)
    assert [r.rcpt_tos for r in smtp.received] == [
        ["ann@guests.test"],
        ["bob@guests.test"],
    ]


def test_each_chunk_goes_over_one_connection(smtp, merchant, issue, monkeypatch):
    monkeypatch.setattr(batches, "CHUNK", 2)
    passes = issue(*(f"guest{n}@guests.test" for n in range(5)))

    batch = _run(merchant.id, passes)

    assert batch.sent == 5
    peers = [r.peer for r in smtp.received]
    assert len(peers) == 5
    assert peers[0] == peers[1] != peers[2] == peers[3] != peers[4]


def test_a_stopped_batch_resumes_with_its_queued_deliveries(smtp, merchant, issue):
    passes = issue("ann@guests.test", "bob@guests.test")
    batch = _run(merchant.id, passes)
    smtp.clear()
    # As if the worker had stopped before the second email.
    second = db.session.scalar(select(MailDelivery).filter_by(pass_id=passes[1].id))
    second.status, second.sent_at = MAIL_QUEUED, None
    batch.sent, batch.finished_at = 1, None
    db.session.commit()

    run_mail_batch(batch.id)

    db.session.expire_all()
    assert [r.rcpt_tos for r in smtp.received] == [["bob@guests.test"]]
    assert (batch.sent, batch.failed) == (2, 0)
    assert batch.finished_at is not None


def test_the_resume_command_sends_what_is_queued(smtp, runner, merchant, issue):
    passes = issue("ann@guests.test", None)
    batch = start_mail_batch(merchant.id, [p.id for p in passes], "user:1")
    jobs.join()
    smtp.clear()
    db.session.expire_all()
    first = db.session.scalar(select(MailDelivery).filter_by(pass_id=passes[0].id))
    # As if the worker had stopped before sending it.
    first.status, first.sent_at = MAIL_QUEUED, None
    batch.sent, batch.finished_at = 0, None
    db.session.commit()

    result = runner.invoke(args=["email-links-resume", str(batch.id)])

    assert result.exit_code == 0, result.output
    assert result.output == f"batch {batch.id}: 1 sent, 1 failed\n"
    assert [r.rcpt_tos for r in smtp.received] == [["ann@guests.test"]]
    missing = runner.invoke(args=["email-links-resume", "999999"])
    assert missing.exit_code == 1
    assert "No mail batch 999999." in missing.output


def test_the_newest_usable_link_is_reused(smtp, merchant, issue):
    reused, revoked, expiring = issue("a@guests.test", "b@guests.test", "c@g.test")
    older = create_link(reused)
    newest = create_link(reused, utcnow() + timedelta(days=30))
    old_of_revoked = create_link(revoked)
    old_of_revoked.revoked_at = utcnow()
    create_link(expiring, utcnow() + timedelta(days=2))
    db.session.commit()
    known = {older.id, newest.id, old_of_revoked.id}

    batch = _run(merchant.id, [reused, revoked, expiring])

    links = [
        d.link_id
        for d in db.session.scalars(
            select(MailDelivery).filter_by(batch_id=batch.id).order_by(MailDelivery.id)
        )
    ]
    assert links[0] == newest.id
    assert links[1] not in known
    assert links[2] not in known | {links[1]}
    urls = [LINK.findall(_parts(r.message)[0]) for r in smtp.received]
    assert urls == [[link_url(db.session.get(DownloadLink, i))] for i in links]


def test_the_merchant_name_is_the_senders_name(smtp, app, issue):
    passes = issue("ann@guests.test")
    merchant = passes[0].pass_type.merchant
    merchant.name = 'Café "Zur Linde", Bühne\r\nBcc: x@evil.test'
    db.session.commit()

    _run(merchant.id, passes)

    [found] = smtp.received
    name, address = parseaddr(str(found.message["From"]))
    assert (name, address) == (
        'Café "Zur Linde", Bühne Bcc: x@evil.test',
        "passes@localhost",
    )
    assert found.rcpt_tos == ["ann@guests.test"]
    assert "Bcc" not in found.message


@pytest.fixture(scope="module")
def rival_chain():
    return make_development_chain("pass.test.rival.tickets", "RIVALTEAM1")


def test_another_merchants_passes_are_refused(merchant, issue, rival_chain):
    rival = create_merchant("Rival", "rival@other.test", "rival password")
    pass_type = service.create_pass_type(rival, rival_chain.identity())
    template = service.create_template(pass_type, "Rival show", demo_design())
    theirs = service.issue_pass(
        template, {"holder": "R", "seat": "R1", "gate": "9"}, customer_email="r@x.test"
    )
    [mine] = issue("ann@guests.test")

    with pytest.raises(LookupError):
        start_mail_batch(merchant.id, [mine.id, theirs.id], "user:1")

    assert db.session.scalars(select(MailBatch)).all() == []
    assert db.session.scalars(select(MailDelivery)).all() == []


def _link_rows() -> set[tuple[int, int]]:
    return set(
        db.session.execute(select(DownloadLinkPass.link_id, DownloadLinkPass.pass_id))
    )


def test_outcomes_of_a_chunk_are_all_recorded_around_a_refusal(
    smtp, merchant, issue, monkeypatch
):
    monkeypatch.setattr(batches, "CHUNK", 5)
    monkeypatch.setattr(batches, "RECORD_EVERY", 2)
    smtp.refuse("gone@guests.test", "550 5.1.1 no such user")
    smtp.refuse("full@guests.test", "452 4.2.2 mailbox full")
    emails = [
        "a@g.test",
        "b@g.test",
        "gone@guests.test",
        "d@g.test",
        "full@guests.test",
    ]
    passes = issue(*emails, "f@g.test")

    batch = _run(merchant.id, passes)

    assert (batch.total, batch.sent, batch.failed) == (6, 4, 2)
    assert [d[1:] for d in _deliveries(batch)] == [
        ("a@g.test", MAIL_SENT, None),
        ("b@g.test", MAIL_SENT, None),
        ("gone@guests.test", MAIL_FAILED, "550 5.1.1 no such user"),
        ("d@g.test", MAIL_SENT, None),
        ("full@guests.test", MAIL_FAILED, "452 4.2.2 mailbox full"),
        ("f@g.test", MAIL_SENT, None),
    ]
    deliveries = db.session.scalars(
        select(MailDelivery).filter_by(batch_id=batch.id).order_by(MailDelivery.id)
    ).all()
    for delivery in deliveries:
        if delivery.status == MAIL_SENT:
            assert delivery.sent_at is not None
            assert (delivery.link_id, delivery.pass_id) in _link_rows()
        else:
            assert (delivery.link_id, delivery.sent_at) == (None, None)
    received = smtp.received
    assert [r.rcpt_tos for r in received] == [
        ["a@g.test"],
        ["b@g.test"],
        ["d@g.test"],
        ["f@g.test"],
    ]
    # The first chunk of five over one connection despite two refusals.
    peers = [r.peer for r in received]
    assert peers[0] == peers[1] == peers[2] != peers[3]


def test_a_connection_lost_mid_chunk_sends_nothing_twice(
    smtp, merchant, issue, monkeypatch
):
    monkeypatch.setattr(batches, "RECORD_EVERY", 10)
    passes = issue(*(f"guest{n}@guests.test" for n in range(5)))
    smtp.reply_to_data("250 2.0.0 Accepted", "250 2.0.0 Accepted")
    # The third message is refused with 421: the server is closing.
    smtp.reply_to_data("421 4.3.2 Service shutting down")

    batch = _run(merchant.id, passes)

    assert (batch.sent, batch.failed) == (5, 0)
    # The server answers the first two DATA without keeping the messages, so
    # only a message sent again after the 421 would show up twice here: the
    # third to fifth arrive once each, over the second connection.
    received = smtp.received
    assert [r.rcpt_tos for r in received] == [
        [f"guest{n}@guests.test"] for n in range(2, 5)
    ]
    assert len({r.peer for r in received}) == 1
    assert all(status == MAIL_SENT for _, _, status, _ in _deliveries(batch))


def test_an_error_mid_chunk_keeps_the_outcomes_known_so_far(
    smtp, merchant, issue, monkeypatch
):
    passes = issue(*(f"guest{n}@guests.test" for n in range(4)))
    real_send_one = batches._send_one
    calls = []

    def crash_on_third(connection, email):
        calls.append(email.delivery_id)
        if len(calls) == 3:
            raise RuntimeError("the worker stopped")
        real_send_one(connection, email)

    monkeypatch.setattr(batches, "_send_one", crash_on_third)
    batch = start_mail_batch(merchant.id, [p.id for p in passes], "user:1")
    # The job queue logs the error and moves on.
    jobs.join()
    db.session.expire_all()
    assert [d[2] for d in _deliveries(batch)] == [
        MAIL_SENT,
        MAIL_SENT,
        MAIL_QUEUED,
        MAIL_QUEUED,
    ]
    assert db.session.get(MailBatch, batch.id).sent == 2

    monkeypatch.setattr(batches, "_send_one", real_send_one)
    run_mail_batch(batch.id)

    db.session.expire_all()
    assert [r.rcpt_tos[0] for r in smtp.received] == [
        f"guest{n}@guests.test" for n in range(4)
    ]
    batch = db.session.get(MailBatch, batch.id)
    assert (batch.sent, batch.failed) == (4, 0)


def test_links_are_reused_or_made_once_per_pass(smtp, merchant, issue):
    own, ordered, bare = issue("a@guests.test", "b@guests.test", "c@guests.test")
    own_link = create_link(own)
    order_link = create_order_link([ordered, bare])
    before = _link_rows()

    first = _run(merchant.id, [own, ordered, bare])
    second = _run(merchant.id, [own, ordered, bare])

    def links(batch):
        return [
            d.link_id
            for d in db.session.scalars(
                select(MailDelivery)
                .filter_by(batch_id=batch.id)
                .order_by(MailDelivery.id)
            )
        ]

    made = _link_rows() - before
    first_links = links(first)
    # The order link is not a pass's own: the two passes on it get new links.
    assert first_links[0] == own_link.id
    assert made == {(first_links[1], ordered.id), (first_links[2], bare.id)}
    assert order_link.id not in first_links
    # Emailed again, every pass gets the same link and none is made.
    assert links(second) == first_links
    assert _link_rows() - before == made
    urls = [LINK.findall(_parts(r.message)[0])[0] for r in smtp.received]
    expected = [link_url(db.session.get(DownloadLink, i)) for i in first_links]
    assert urls == expected * 2


def test_the_customer_opens_the_emailed_link_and_gets_a_bundle_that_verifies(
    smtp, merchant, issue, live_server, chain_files, tmp_path
):
    (pass_,) = issue("ann@guests.test")

    _run(merchant.id, [pass_])

    (received,) = smtp.received
    text, html = _parts(received.message)
    (url,) = LINK.findall(text)
    assert f'<a href="{url}"' in html
    # The link carries PUBLIC_URL; the same path is asked of the live server.
    page_url = live_server + urlsplit(url).path
    page = httpx.get(page_url, timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Add to Apple Wallet" in page.text
    bundle = httpx.get(page_url + "/pass.pkpass", timeout=10)
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == PKPASS_MIME
    assert (
        bundle.headers["content-disposition"] == "attachment; filename=Concert.pkpass"
    )
    files = verify_bundle(bundle.content, chain_files / "root.pem", tmp_path)
    pass_json = json.loads(files["pass.json"])
    assert (pass_json["serialNumber"], pass_json["authenticationToken"]) == (
        pass_.serial_number,
        pass_.authentication_token,
    )
