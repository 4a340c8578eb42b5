"""The API's docs page in a real browser: Swagger UI from static/, trying a call."""

import pytest
from playwright.sync_api import expect

from app.api import keys


@pytest.mark.browser
def test_the_docs_page_lists_operations_and_calls_the_api(
    live_server, page, merchant, template
):
    _, key = keys.create_key(merchant.id, "Docs", "user:1")
    outside = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith(live_server) else outside.append(request.url)
        ),
    )

    page.goto(f"{live_server}/api/v1/docs")

    expect(page.locator(".opblock")).to_have_count(10)
    expect(page.get_by_text("Passline merchant API", exact=False).first).to_be_visible()
    page.locator(".scheme-container").get_by_role("button", name="Authorize").click()
    dialog = page.locator(".dialog-ux")
    dialog.locator(".auth-container input").fill(key)
    dialog.locator("button.authorize").click()
    dialog.locator("button.btn-done").click()
    operation = page.locator("#operations-api-listTemplates")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    body = operation.locator(".live-responses-table .response-col_description pre")
    expect(body.first).to_contain_text('"name": "Concert"')
    assert outside == []
