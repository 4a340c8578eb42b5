"""A new merchant goes from sign-up to a pushed pass update, in a real browser."""

import io
import json
import re
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from app import jobs
from app.demo import demo_design
from app.passes.bundle import PKPASS_MIME
from tests.bundle_check import verify_bundle
from tests.conftest import PASS_TYPE_ID, SAMPLES

DEVICE = "5c1d0e2f7a8b4c3d9e6f0a1b2c3d4e5f"
PUSH_TOKEN = "fe" * 32


def _demo_pkpass() -> bytes:
    """Write the demo design as a .pkpass, as another tool would hand it over."""
    design = demo_design()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("pass.json", json.dumps({"formatVersion": 1, **design.design}))
        for path, content in design.images.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def _download(page, live_server, folder, root):
    """Open the pass's download link, add the pass, and return its verified files.

    The browser comes back to the pass page afterwards.
    """
    pass_page = page.url
    url = page.locator("ul.links a").first.get_attribute("href")
    # Links carry PUBLIC_URL (https://passline.test); the same path is opened
    # on the live server.
    page.goto(live_server + urlsplit(url).path)
    expect(page.get_by_label("Front of the pass")).to_be_visible()
    with page.expect_download() as started:
        page.get_by_role("link", name="Add to Apple Wallet").click()
    download = started.value
    assert download.suggested_filename.endswith(".pkpass")
    folder.mkdir()
    files = verify_bundle(Path(download.path()).read_bytes(), root, folder)
    page.goto(pass_page)
    return files


@pytest.mark.browser
def test_sign_up_import_issue_install_and_push(
    live_server, page, chain_files, apns, tmp_path
):
    page.goto(f"{live_server}/account/signup")
    page.get_by_label("Business name").fill("Harbour Ferries")
    page.get_by_label("Email").fill("ops@harbour.example")
    page.get_by_label("Password", exact=True).fill("a long passphrase")
    page.get_by_label("Repeat the password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    page.goto(f"{live_server}/dashboard/pass-types/new")
    page.get_by_label("Certificate (PEM or DER)", exact=True).set_input_files(
        chain_files / "pass-type.pem"
    )
    page.get_by_label("Private key (PEM)").set_input_files(
        chain_files / "pass-type-key.pem"
    )
    page.get_by_label("Apple WWDR intermediate certificate").set_input_files(
        chain_files / "wwdr.pem"
    )
    page.get_by_role("button", name="Add the pass type").click()
    expect(page.get_by_text(f"Pass type {PASS_TYPE_ID} added")).to_be_visible()

    # Apple's Event sample: no placeholders, so every pass shows the same text.
    page.goto(f"{live_server}/dashboard/templates")
    page.get_by_role("link", name="Import a pass").click()
    page.get_by_label("Pass file (.pkpass)").set_input_files(SAMPLES / "Event.pkpass")
    expect(page.get_by_label("Pass type")).to_have_value(re.compile(r"^\d+$"))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Template Event")).to_be_visible()
    expect(page.get_by_text("Template Event imported.")).to_be_visible()
    front = page.get_by_label("Front of the pass")
    expect(front.get_by_role("img", name="Barcode: 123456789")).to_be_visible()
    expect(front.get_by_role("img", name="Apple Inc.")).to_be_visible()

    # Editing a field in the designer redraws the preview before any save.
    page.locator("details:has(#design-primaryFields-0-label) > summary").click()
    page.locator("#design-primaryFields-0-label").fill("KEYNOTE")
    preview = page.locator("#design-preview")
    expect(preview.get_by_text("KEYNOTE")).to_be_visible()
    expect(preview.get_by_text("EVENT", exact=True)).to_have_count(0)

    page.get_by_role("button", name="Issue the pass").click()
    expect(
        page.get_by_role("heading", name=re.compile(r"^Pass [0-9a-f]{20}$"))
    ).to_be_visible()
    expect(page.get_by_text(re.compile(r"Download link: https://"))).to_be_visible()
    files = _download(page, live_server, tmp_path / "event", chain_files / "root.pem")
    assert json.loads(files["pass.json"])["organizationName"] == "Apple Inc."

    # A design of one's own with placeholders, made by another tool.
    page.goto(f"{live_server}/dashboard/templates/import")
    page.get_by_label("Pass file (.pkpass)").set_input_files(
        {"name": "concert.pkpass", "mimeType": PKPASS_MIME, "buffer": _demo_pkpass()}
    )
    page.get_by_label("Template name").fill("Summer Night")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Template Summer Night")).to_be_visible()
    page.get_by_label("holder", exact=True).fill("Ida Berg")
    page.get_by_label("seat", exact=True).fill("D 9")
    page.get_by_label("gate", exact=True).fill("A")
    page.get_by_label("Serial number").fill("SN-0001")
    page.get_by_label("Customer email").fill("Ida.Berg@venue.example")
    page.get_by_role("button", name="Issue the pass").click()
    expect(page.get_by_role("heading", name="Pass SN-0001")).to_be_visible()
    expect(page.locator("dt:has-text('Customer email') + dd")).to_have_text(
        "ida.berg@venue.example"
    )
    files = _download(page, live_server, tmp_path / "demo", chain_files / "root.pem")
    pass_json = json.loads(files["pass.json"])
    assert pass_json["eventTicket"]["auxiliaryFields"][0]["value"] == "A"

    # The customer's iPhone installs it and registers with the web service.
    registered = httpx.post(
        f"{live_server}/passkit/v1/devices/{DEVICE}/registrations/"
        f"{PASS_TYPE_ID}/SN-0001",
        json={"pushToken": PUSH_TOKEN},
        headers={"Authorization": f"ApplePass {pass_json['authenticationToken']}"},
        timeout=10,
    )
    assert registered.status_code == 201
    page.reload()
    expect(page.get_by_text("No device has registered the pass.")).to_have_count(0)

    page.get_by_label("gate", exact=True).fill("C")
    page.get_by_role("button", name="Save and update devices").click()
    expect(
        page.get_by_text("Saved. Devices with the pass are being updated.")
    ).to_be_visible()
    jobs.join()
    page.reload()

    pushes = page.locator("h2:has-text('Latest pushes') + table tbody tr")
    expect(pushes).to_have_count(1)
    expect(pushes.locator("td").nth(1)).to_have_text(f"…{DEVICE[-6:]}")
    expect(pushes.locator("td").nth(2)).to_have_text("sent")
    expect(pushes.locator("td").nth(3)).to_have_text("200")
    assert [r.path for r in apns.requests] == [f"/3/device/{PUSH_TOKEN}"]
