"""A customer opens a download link in a real browser and adds the passes."""

import io
import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.downloads.links import create_link, create_order_link
from app.passes import service
from tests.bundle_check import verify_bundle


@pytest.mark.browser
def test_the_button_downloads_the_signed_pass(
    live_server, page, issued_pass, chain_files, tmp_path
):
    link = create_link(issued_pass)

    page.goto(f"{live_server}/p/{link.token}")

    expect(page).to_have_title("Passline Live · Passline Live concert ticket")
    front = page.get_by_label("Front of the pass")
    expect(front.get_by_text("Ann", exact=True)).to_be_visible()
    expect(page.get_by_alt_text("QR code of this page's address")).to_be_visible()
    with page.expect_download() as started:
        page.get_by_role("link", name="Add to Apple Wallet").click()
    download = started.value
    assert download.suggested_filename == "Concert.pkpass"
    files = verify_bundle(
        Path(download.path()).read_bytes(), chain_files / "root.pem", tmp_path
    )
    assert json.loads(files["pass.json"])["serialNumber"] == issued_pass.serial_number


@pytest.mark.browser
def test_the_order_button_downloads_every_pass(
    live_server, page, issued_pass, template, chain_files, tmp_path
):
    other = service.issue_pass(template, {"holder": "Bo", "seat": "A2", "gate": "3"})
    link = create_order_link([issued_pass, other])

    page.goto(f"{live_server}/p/{link.token}")

    expect(page.get_by_label("Front of the pass")).to_have_count(2)
    expect(
        page.get_by_role("link", name="Add to Apple Wallet", exact=True)
    ).to_have_count(0)
    with page.expect_download() as started:
        page.get_by_role("link", name="Add all to Apple Wallet").click()
    download = started.value
    assert download.suggested_filename == "Test-Venue.pkpasses"
    content = Path(download.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        bundles = [archive.read(name) for name in archive.namelist()]
    serials = []
    for number, bundle in enumerate(bundles):
        folder = tmp_path / str(number)
        folder.mkdir()
        files = verify_bundle(bundle, chain_files / "root.pem", folder)
        serials.append(json.loads(files["pass.json"])["serialNumber"])
    assert serials == [issued_pass.serial_number, other.serial_number]
