"""A mail batch's page in a real browser: its progress follows the sending."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app import jobs
from app.extensions import db
from app.models import MAIL_SENT, MailBatch, MailDelivery
from app.passes import service


def _sign_in(page, live_server):
    page.goto(f"{live_server}/account/login")
    page.get_by_label("Email").fill("owner@venue.test")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def _queued_batch(template, emails: list[str]) -> int:
    """Record a batch of queued emails without starting its job; return its id."""
    passes = [
        service.issue_pass(
            template, {"holder": "Guest", "seat": "A1", "gate": "3"}, customer_email=e
        )
        for e in emails
    ]
    batch = MailBatch(
        merchant_id=template.pass_type.merchant_id,
        created_by="cli",
        total=len(passes),
    )
    db.session.add(batch)
    db.session.flush()
    db.session.add_all(
        MailDelivery(batch_id=batch.id, pass_id=p.id, email=p.customer_email)
        for p in passes
    )
    db.session.commit()
    return batch.id


@pytest.mark.browser
def test_the_progress_bar_reaches_finished_by_polling(
    live_server, page, template, smtp
):
    batch_id = _queued_batch(template, ["ann@guests.test", "bo@guests.test"])
    _sign_in(page, live_server)
    page.goto(f"{live_server}/dashboard/mail/{batch_id}")
    section = page.locator("#mail-batch")
    expect(section.locator('[data-progress="state"]')).to_have_text("Sending")
    expect(section.locator('[data-progress="sent"]')).to_have_text("0")
    loaded = page.evaluate("performance.timeOrigin")

    jobs.enqueue("app.mail.batches.run_mail_batch", batch_id)

    expect(section.locator('[data-progress="state"]')).to_have_text("Finished")
    expect(section.locator('[data-progress="done"]')).to_have_text("2")
    expect(section.locator('[data-progress="sent"]')).to_have_text("2")
    expect(section.locator('[data-progress="failed"]')).to_have_text("0")
    expect(section).to_have_attribute("data-finished", "true")
    bar = section.locator("progress")
    assert bar.evaluate("bar => [bar.value, bar.max]") == [2, 2]
    # The numbers came by polling: without failures the page is not reloaded.
    assert page.evaluate("performance.timeOrigin") == loaded
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == [
        "ann@guests.test",
        "bo@guests.test",
    ]
    db.session.expire_all()
    assert db.session.get(MailBatch, batch_id).finished_at is not None
    statuses = db.session.scalars(select(MailDelivery.status)).all()
    assert statuses == [MAIL_SENT, MAIL_SENT]


@pytest.mark.browser
def test_the_page_reloads_to_list_new_failures(live_server, page, template, smtp):
    smtp.refuse("gone@guests.test", "550 5.1.1 <gone@guests.test>: unknown user")
    batch_id = _queued_batch(template, ["ann@guests.test", "gone@guests.test"])
    _sign_in(page, live_server)
    page.goto(f"{live_server}/dashboard/mail/{batch_id}")
    expect(page.get_by_text("None so far.")).to_be_visible()

    jobs.enqueue("app.mail.batches.run_mail_batch", batch_id)

    failures = page.locator("table.mail-failures")
    expect(failures).to_contain_text("gone@guests.test")
    expect(failures).to_contain_text("550 5.1.1 <gone@guests.test>: unknown user")
    section = page.locator("#mail-batch")
    expect(section.locator('[data-progress="state"]')).to_have_text("Finished")
    expect(section.locator('[data-progress="failed"]')).to_have_text("1")
