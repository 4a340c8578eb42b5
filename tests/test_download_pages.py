"""The public pages behind download links, and the bundles beneath them."""

import base64
import html
import io
import json
import re
import secrets
import zipfile
from datetime import datetime, timedelta

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select
from werkzeug.http import http_date

from app.demo import demo_design
from app.devchain import make_development_chain
from app.downloads.links import (
    create_link,
    create_order_link,
    link_url,
    revoke_link,
)
from app.extensions import db
from app.merchants import create_merchant
from app.models import DownloadLink, DownloadLinkPass, utcnow
from app.passes import service
from app.passes.bundle import PKPASS_MIME, PKPASSES_MIME
from tests.bundle_check import verify_bundle

ZIP_MAGIC = b"PK\x03\x04"
QR_IMAGE = re.compile(
    r'<aside class="download-qr">\s*<img src="data:image/png;base64,([^"]+)"'
)
WALLET_BUTTON = re.compile(r'<a class="wallet-button" href="([^"]+)">(.*?)</a>', re.S)
DATA = {"holder": "Ann", "seat": "A1", "gate": "3"}


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _link_qr(page: str) -> str:
    """Read the QR code of the link page the way a phone's camera would."""
    png = base64.b64decode(QR_IMAGE.search(page).group(1))
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "expected exactly one readable barcode"
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode
    return results[0].text


def _button(page: str) -> tuple[str, str]:
    """Return the wallet button's target and its words."""
    href, inner = WALLET_BUTTON.search(page).groups()
    return href, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", inner)).strip()


@pytest.fixture
def quiet_template(pass_type):
    """A ticket whose barcode carries the holder and seat, not the serial."""
    design = demo_design()
    design.design["barcodes"] = [
        {
            "format": "PKBarcodeFormatQR",
            "message": "{{holder}}/{{seat}}",
            "messageEncoding": "iso-8859-1",
        }
    ]
    return service.create_template(pass_type, "Concert", design)


@pytest.fixture
def order(template):
    passes = [
        service.issue_pass(template, {"holder": name, "seat": seat, "gate": "3"})
        for name, seat in (("Ann", "A1"), ("Bo", "A2"), ("Cy", "A3"))
    ]
    return create_order_link(passes), passes


# Guessed and withdrawn links


@pytest.mark.parametrize(
    "suffix", ["", "/pass.pkpass", "/passes.pkpasses", "/pass.pkpass?x=1"]
)
def test_a_guessed_token_finds_nothing(client, issued_pass, order, suffix):
    create_link(issued_pass)

    for _ in range(5):
        guess = secrets.token_urlsafe(24)
        response = client.get(f"/p/{guess}{suffix}")

        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "No pass at this address" in _text(response)
        assert ZIP_MAGIC not in response.data
        assert "Last-Modified" not in response.headers


@pytest.mark.parametrize("kind", ["single", "order"])
def test_a_revoked_link_says_who_withdrew_it_and_gives_no_bundle(
    client, issued_pass, order, kind
):
    link = create_link(issued_pass) if kind == "single" else order[0]
    bundle = "pass.pkpass" if kind == "single" else "passes.pkpasses"
    assert client.get(f"/p/{link.token}/{bundle}").status_code == 200

    revoke_link(link, actor="cli")

    for path in (f"/p/{link.token}", f"/p/{link.token}/{bundle}"):
        response = client.get(path)
        text = _text(response)
        assert response.status_code == 410, path
        assert response.mimetype == "text/html"
        assert "This link was withdrawn by Test Venue." in text
        assert "expired" not in text
        assert ZIP_MAGIC not in response.data
        assert "Ann" not in text
        assert response.headers["Cache-Control"] == "no-store"


def test_a_voided_pass_is_not_handed_out(client, issued_pass):
    link = create_link(issued_pass)

    service.update_pass(issued_pass, is_voided=True, push=False)

    for path in (f"/p/{link.token}", f"/p/{link.token}/pass.pkpass"):
        response = client.get(path)
        text = _text(response)
        assert response.status_code == 410, path
        assert "Test Venue voided this pass: it is no longer valid." in text
        assert "Add to Apple Wallet" not in text
        assert ZIP_MAGIC not in response.data


def test_an_expired_link_says_when_and_gives_no_bundle(client, issued_pass):
    link = create_link(issued_pass, expires_at=datetime(2026, 3, 6, 8, 5, 52))

    for path in (f"/p/{link.token}", f"/p/{link.token}/pass.pkpass"):
        response = client.get(path)
        text = _text(response)
        assert response.status_code == 410, path
        assert "This link expired on 6 March 2026." in text
        assert "withdrawn" not in text
        assert ZIP_MAGIC not in response.data


def test_a_link_works_until_it_expires(client, issued_pass):
    link = create_link(issued_pass, expires_at=utcnow() + timedelta(minutes=5))

    assert client.get(f"/p/{link.token}").status_code == 200
    assert client.get(f"/p/{link.token}/pass.pkpass").status_code == 200

    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()

    assert client.get(f"/p/{link.token}").status_code == 410
    assert client.get(f"/p/{link.token}/pass.pkpass").status_code == 410


# One pass


def test_the_page_shows_the_pass_a_wallet_button_and_its_own_qr_code(
    client, quiet_template
):
    pass_ = service.issue_pass(quiet_template, DATA)
    link = create_link(pass_)

    response = client.get(f"/p/{link.token}")

    text = _text(response)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<title>Passline Live · Passline Live concert ticket</title>" in text
    assert 'aria-label="Front of the pass"' in text
    assert 'aria-label="Back of the pass"' in text
    assert '<span class="pass-value">Ann</span>' in text
    assert "Doors open one hour before the show." in text
    assert 'alt="Barcode: Ann/A1"' in text
    assert _button(text) == (f"/p/{link.token}/pass.pkpass", "Add to Apple Wallet")
    assert _link_qr(text) == link_url(link) == f"https://passline.test/p/{link.token}"
    assert "Scan with your iPhone" in text
    assert pass_.serial_number not in text
    assert pass_.authentication_token not in text
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Robots-Tag"] == "noindex"


def test_the_page_speaks_the_customers_language(client, issued_pass):
    link = create_link(issued_pass)

    french = _text(client.get(f"/p/{link.token}", headers={"Accept-Language": "fr"}))
    other = _text(client.get(f"/p/{link.token}", headers={"Accept-Language": "de"}))

    assert ">PORTE<" in french
    assert ">GATE<" not in french
    assert ">GATE<" in other


def test_the_pkpass_url_sends_the_signed_pass(
    client, issued_pass, chain_files, tmp_path
):
    link = create_link(issued_pass)

    response = client.get(f"/p/{link.token}/pass.pkpass")
    head = client.head(f"/p/{link.token}/pass.pkpass")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == PKPASS_MIME
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=Concert.pkpass"
    )
    assert response.headers["Last-Modified"] == http_date(issued_pass.updated_at)
    assert response.headers["Cache-Control"] == "no-store"
    files = verify_bundle(response.data, chain_files / "root.pem", tmp_path)
    pass_json = json.loads(files["pass.json"])
    assert pass_json["serialNumber"] == issued_pass.serial_number
    assert pass_json["eventTicket"]["secondaryFields"][0]["value"] == "Ann"
    assert (head.status_code, head.data) == (200, b"")
    assert head.headers["Content-Type"] == PKPASS_MIME


def test_a_single_pass_link_has_no_pkpasses(client, issued_pass):
    link = create_link(issued_pass)

    response = client.get(f"/p/{link.token}/passes.pkpasses")

    assert response.status_code == 404
    assert ZIP_MAGIC not in response.data


# Orders


def test_an_order_page_shows_every_pass_and_one_button(client, order):
    link, passes = order

    response = client.get(f"/p/{link.token}")

    text = _text(response)
    assert response.status_code == 200
    assert "<title>Passline Live · 3 passes</title>" in text
    assert text.count('aria-label="Front of the pass"') == 3
    holders = re.findall(
        r'data-key="holder"[^>]*>\s*<span class="pass-label">TICKET HOLDER</span>\s*'
        r'<span class="pass-value">([^<]+)</span>',
        text,
    )
    assert holders == ["Ann", "Bo", "Cy"]
    assert _button(text) == (
        f"/p/{link.token}/passes.pkpasses",
        "Add all to Apple Wallet",
    )
    assert text.count('class="wallet-button"') == 1
    assert _link_qr(text) == f"https://passline.test/p/{link.token}"
    for pass_ in passes:
        assert pass_.authentication_token not in text


def test_the_pkpasses_url_sends_every_pass_signed(client, order, chain_files, tmp_path):
    link, passes = order

    response = client.get(f"/p/{link.token}/passes.pkpasses")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == PKPASSES_MIME
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=Test-Venue.pkpasses"
    )
    assert response.headers["Last-Modified"] == http_date(
        max(pass_.updated_at for pass_ in passes)
    )
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        names = archive.namelist()
        bundles = [archive.read(name) for name in names]
    assert names == ["01-Concert.pkpass", "02-Concert.pkpass", "03-Concert.pkpass"]
    serials = []
    for number, bundle in enumerate(bundles):
        folder = tmp_path / str(number)
        folder.mkdir()
        files = verify_bundle(bundle, chain_files / "root.pem", folder)
        serials.append(json.loads(files["pass.json"])["serialNumber"])
    assert serials == [pass_.serial_number for pass_ in passes]


def test_an_order_link_has_no_single_pkpass(client, order):
    link, _ = order

    response = client.get(f"/p/{link.token}/pass.pkpass")

    assert response.status_code == 404
    assert ZIP_MAGIC not in response.data


def test_an_order_link_keeps_its_passes_in_order(order):
    link, passes = order

    db.session.expire_all()
    stored = db.session.execute(
        select(DownloadLinkPass.pass_id, DownloadLinkPass.position)
        .filter_by(link_id=link.id)
        .order_by(DownloadLinkPass.position)
    ).all()

    assert stored == [(pass_.id, position) for position, pass_ in enumerate(passes)]
    assert db.session.get(DownloadLink, link.id).passes == passes


def _links() -> int:
    return db.session.scalar(select(func.count(DownloadLink.id)))


@pytest.fixture(scope="session")
def rival_chain():
    return make_development_chain("pass.test.rival.tickets", "RIVALTEAM1")


def test_an_order_link_refuses_passes_of_another_merchant(issued_pass, rival_chain):
    rival = create_merchant("Rival", "rival@other.example", "rival password")
    rival_type = service.create_pass_type(rival, rival_chain.identity())
    rival_template = service.create_template(rival_type, "Rival", demo_design())
    rival_pass = service.issue_pass(rival_template, DATA)
    before = _links()

    with pytest.raises(ValueError, match="different merchants"):
        create_order_link([issued_pass, rival_pass])

    assert _links() == before


@pytest.mark.parametrize(
    ("count", "message"),
    [(0, "1 to 10 passes"), (11, "1 to 10 passes"), (-2, "listed twice")],
)
def test_an_order_link_refuses_a_bad_list(template, count, message):
    passes = [service.issue_pass(template, DATA) for _ in range(max(count, 2))]
    chosen = passes[:count] if count >= 0 else [passes[0], passes[0]]
    before = _links()

    with pytest.raises(ValueError, match=message):
        create_order_link(chosen)

    assert _links() == before
