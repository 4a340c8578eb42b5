"""The template designer in a real browser: live preview, new fields, saving."""

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
    front = page.locator("#design-preview").get_by_label("Front of the pass")
    expect(front.get_by_text("TICKET HOLDER")).to_be_visible()

    page.locator("summary", has_text="TICKET HOLDER").click()
    page.locator("#design-secondaryFields-0-label").fill("GUEST NAME")

    expect(front.get_by_text("GUEST NAME")).to_be_visible()
    expect(front.get_by_text("TICKET HOLDER")).to_have_count(0)
    # Nothing was stored: only the save button posts the design for keeps.
    db.session.expire_all()
    assert template.design["eventTicket"]["secondaryFields"][0]["label"] == (
        "TICKET HOLDER"
    )


@pytest.mark.browser
def test_adding_a_field_and_changing_the_style(live_server, page, template):
    page.goto(f"{live_server}/account/login")
    page.get_by_label("Email").fill("owner@venue.test")
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/dashboard/templates/{template.id}")
    preview = page.locator("#design-preview")
    auxiliary = page.locator("fieldset", has_text="Auxiliary fields")
    blank = len(template.design["eventTicket"]["auxiliaryFields"])

    auxiliary.locator("summary", has_text="Add a field").click()
    page.locator(f"#design-auxiliaryFields-{blank}-key").fill("doors")
    page.locator(f"#design-auxiliaryFields-{blank}-label").fill("DOORS")
    page.locator(f"#design-auxiliaryFields-{blank}-value").fill("19:30")
    expect(preview.get_by_text("DOORS")).to_be_visible()
    page.locator("#design-style").select_option("generic")
    expect(preview.locator(".pass-style-generic")).to_have_count(1)
    page.get_by_role("button", name="Save the design").click()

    expect(page.get_by_text("Design saved.")).to_be_visible()
    expect(page.locator("#template-update")).to_contain_text("Finished")
    db.session.expire_all()
    assert template.style == "generic"
    fields = template.design["generic"]["auxiliaryFields"]
    assert fields[-1] == {"key": "doors", "label": "DOORS", "value": "19:30"}
