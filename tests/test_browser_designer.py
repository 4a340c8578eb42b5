"""Changing a field in the designer redraws the preview, in a real browser."""

import pytest
from playwright.sync_api import expect

from app.extensions import db


@pytest.mark.browser
def test_editing_a_label_updates_the_preview(live_server, page, template):
    page.goto(f"{live_server}/account/login")
    page.get_by_label("Email").fill("owner@venue.test")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/dashboard/templates/{template.id}")
    front = page.get_by_label("Front of the pass")
    expect(front.get_by_text("TICKET HOLDER")).to_be_visible()

    page.get_by_label("holder label", exact=True).fill("GUEST NAME")

    expect(front.get_by_text("GUEST NAME")).to_be_visible()
    expect(front.get_by_text("TICKET HOLDER")).to_have_count(0)
    # Nothing was stored: only the save button posts the design for keeps.
    db.session.expire_all()
    assert template.design["eventTicket"]["secondaryFields"][0]["label"] == (
        "TICKET HOLDER"
    )
