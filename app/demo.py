"""The demo merchant `flask demo` seeds: a concert ticket with live gate changes."""

import io

from PIL import Image, ImageDraw

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
