"""The demo merchant `flask demo` seeds: a concert ticket with live gate changes."""

import io
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import select

from app.devchain import make_development_chain
from app.downloads.links import create_link
from app.extensions import db
from app.merchants import create_merchant, find_user
from app.models import DownloadLink, DownloadLinkPass, Pass, Template
from app.passes import service
from app.passes.importer import ImportedDesign

DEMO_EMAIL = "demo@passline.test"
DEMO_PASSWORD = "passline-demo"
DEMO_PASS_TYPE = "pass.dev.passline.demo"
DEMO_TEAM = "PASSLINE01"

BACKGROUND = (31, 41, 55)
ACCENT = (250, 204, 21)


def _png(width: int, height: int, scale: int, draw_logo: bool) -> bytes:
    image = Image.new("RGBA", (width * scale, height * scale), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    if draw_logo:
        pen.rounded_rectangle(
            (0, 0, height * scale - 1, height * scale - 1), 8 * scale, fill=ACCENT
        )
    else:
        pen.ellipse((0, 0, width * scale - 1, height * scale - 1), fill=ACCENT)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def demo_design() -> ImportedDesign:
    """Return an event ticket whose holder, seat and gate come from pass data."""
    design = {
        "organizationName": "Passline Live",
        "description": "Passline Live concert ticket",
        "logoText": "Passline Live",
        "foregroundColor": "rgb(255, 255, 255)",
        "backgroundColor": f"rgb{BACKGROUND}",
        "labelColor": f"rgb{ACCENT}",
        "relevantDate": "2027-06-12T19:30:00+02:00",
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": "{{serialNumber}}",
                "messageEncoding": "iso-8859-1",
                "altText": "{{serialNumber}}",
            }
        ],
        "eventTicket": {
            "primaryFields": [
                {"key": "event", "label": "EVENT", "value": "Summer Night Live"}
            ],
            "secondaryFields": [
                {"key": "holder", "label": "TICKET HOLDER", "value": "{{holder}}"},
                {
                    "key": "date",
                    "label": "DATE",
                    "value": "2027-06-12T19:30:00+02:00",
                    "dateStyle": "PKDateStyleMedium",
                    "timeStyle": "PKDateStyleShort",
                },
            ],
            "auxiliaryFields": [
                {
                    "key": "gate",
                    "label": "GATE",
                    "value": "{{gate}}",
                    "changeMessage": "Your gate is now %@",
                },
                {"key": "seat", "label": "SEAT", "value": "{{seat}}"},
            ],
            "backFields": [
                {
                    "key": "terms",
                    "label": "TERMS",
                    "value": "Doors open one hour before the show.",
                }
            ],
        },
    }
    images = {}
    for scale, suffix in ((1, ""), (2, "@2x"), (3, "@3x")):
        images[f"icon{suffix}.png"] = _png(29, 29, scale, draw_logo=False)
        images[f"logo{suffix}.png"] = _png(50, 50, scale, draw_logo=True)
    return ImportedDesign("eventTicket", design, images, {"fr": _FRENCH})


_FRENCH = {
    "EVENT": "ÉVÉNEMENT",
    "TICKET HOLDER": "TITULAIRE",
    "GATE": "PORTE",
    "SEAT": "PLACE",
    "Your gate is now %@": "Votre porte est maintenant %@",
}

DEMO_DATA = {"holder": "Alex Martin", "seat": "C 14", "gate": "B"}


def seed(chain_dir: Path) -> tuple[DownloadLink, bool]:
    """Create the demo merchant, pass type, template and pass unless they exist.

    Returns the demo pass's download link and whether it was created now. The
    development root and WWDR are written to chain_dir for verifying passes.
    """
    user = find_user(DEMO_EMAIL)
    if user is not None:
        link = db.session.scalar(
            select(DownloadLink)
            .join(DownloadLink.items)
            .join(DownloadLinkPass.pass_)
            .join(Pass.template)
            .where(Template.merchant_id == user.merchant_id)
            .order_by(DownloadLink.id)
        )
        if link is not None:
            return link, False
        template = db.session.scalars(
            select(Template).filter_by(merchant_id=user.merchant_id)
        ).first()
        if template is not None:
            return create_link(service.issue_pass(template, DEMO_DATA)), False

    chain = make_development_chain(DEMO_PASS_TYPE, DEMO_TEAM)
    chain_dir.mkdir(parents=True, exist_ok=True)
    (chain_dir / "root.pem").write_bytes(chain.root_pem)
    (chain_dir / "wwdr.pem").write_bytes(chain.wwdr_pem)
    merchant = user.merchant if user else None
    if merchant is None:
        merchant = create_merchant("Passline Live (demo)", DEMO_EMAIL, DEMO_PASSWORD)
    pass_type = service.create_pass_type(merchant, chain.identity())
    template = service.create_template(pass_type, "Summer Night Live", demo_design())
    return create_link(service.issue_pass(template, DEMO_DATA)), True
