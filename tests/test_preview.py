"""The pass preview: its view model, its barcodes and the macro that draws it."""

import base64
import copy
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import zxingcpp
from markupsafe import escape
from PIL import Image

from app.passes.bundle import render_pass_json
from app.passes.importer import import_design
from app.preview import BarcodeError, barcode_png, preview_model
from app.preview.layout import data_uri, format_value, spell_out
from tests.conftest import SAMPLES

NNBSP = "\u202f"  # CLDR puts a narrow no-break space before AM and PM
EXPECTED = {
    "BoardingPass": {
        "style": "boardingPass",
        "organization": "Skyport Airways",
        "colors": ("rgb(22, 55, 110)", "rgb(50, 91, 185)"),
        "images": {"icon", "logo"},
        "message": "SFOJFK JOHN APPLESEED LH451 2012-07-22T14:25-08:00",
        "header_fields": [("GATE", "23")],
        "primary_fields": [("SAN FRANCISCO", "SFO"), ("NEW YORK", "JFK")],
        "secondary_fields": [("PASSENGER", "John Appleseed")],
        "auxiliary_fields": [
            ("DEPART", "2:25 PM"),
            ("FLIGHT", "815"),
            ("DESIG.", "Coach"),
            ("DATE", "7/22"),
        ],
        "back_fields": [
            ("PASSPORT", "Canadian/Canadien"),
            ("RESIDENCE", "999 Infinite Loop, Apartment 42, Cupertino CA"),
        ],
    },
    "Coupon": {
        "style": "coupon",
        "organization": "Paw Planet",
        "colors": ("rgb(255, 255, 255)", "rgb(206, 140, 53)"),
        "images": {"icon", "logo"},
        "message": "123456789",
        "primary_fields": [("Any premium dog food", "20% off")],
        # 2013-04-24T10:00-05:00 with PKDateStyleShort.
        "auxiliary_fields": [("EXPIRES", "4/24/13")],
    },
    "Event": {
        "style": "eventTicket",
        "organization": "Apple Inc.",
        "colors": ("rgb(255, 255, 255)", "rgb(60, 65, 76)"),
        "images": {"background", "icon", "logo", "thumbnail"},
        "message": "123456789",
        "primary_fields": [("EVENT", "The Beat Goes On")],
        "secondary_fields": [("LOCATION", "Moscone West")],
    },
    "Generic": {
        "style": "generic",
        "organization": "Toy Town",
        "colors": ("rgb(255, 255, 255)", "rgb(197, 31, 31)"),
        "images": {"icon", "logo", "thumbnail"},
        "message": "123456789",
        "primary_fields": [("", "Johnny Appleseed")],
        "secondary_fields": [("MEMBER SINCE", "2012")],
        "auxiliary_fields": [
            ("LEVEL", "Platinum"),
            ("FAVORITE TOY", "Bucky Ball Magnets"),
        ],
        "back_fields": [
            ("spelled out", "two hundred"),
            ("in Reals", "R$200.00"),
            ("full date", "Wednesday, May 7, 1980"),
            ("full time", f"10:00:00{NNBSP}AM GMT-05:00"),
            ("short date and time", f"5/7/80, 10:00{NNBSP}AM"),
            ("relative date", "4/24/13"),
        ],
    },
    "StoreCard": {
        "style": "storeCard",
        "organization": "Organic Produce",
        "colors": ("rgb(255, 255, 255)", "rgb(55, 117, 50)"),
        "images": {"icon", "logo", "strip"},
        "message": "123456789",
        "primary_fields": [("remaining balance", "$21.75")],
        "auxiliary_fields": [("Deal of the Day", "Lemons")],
    },
}
GROUPS = (
    "header_fields",
    "primary_fields",
    "secondary_fields",
    "auxiliary_fields",
    "back_fields",
)
FORMAT_NAMES = {
    "PKBarcodeFormatQR": "QRCode",
    "PKBarcodeFormatPDF417": "PDF417",
    "PKBarcodeFormatAztec": "Aztec",
    "PKBarcodeFormatCode128": "Code128",
}
BARCODE_IMG = re.compile(
    r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="Barcode'
)


def sample_pass(name: str, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Import an Apple sample and render its pass.json as an issued pass."""
    design = import_design(SAMPLES / f"{name}.pkpass")
    pass_json = render_pass_json(
        design.design,
        {},
        pass_type_identifier="pass.test.preview",
        team_identifier="TESTTEAM01",
        serial_number="PREVIEW-1",
        authentication_token="preview-token-0123456789",
        web_service_url="https://passline.test/passkit",
        **kwargs,
    )
    return pass_json, design


def render(app, model) -> str:
    macro = app.jinja_env.get_template("preview/_pass.html").module.pass_preview
    return str(macro(model))


def decode(png: bytes) -> zxingcpp.Result:
    """Read the one barcode in a PNG, as a scanner would."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "expected exactly one readable barcode"
    return results[0]


def png_of(uri: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    return base64.b64decode(uri.removeprefix(prefix))


def pairs(fields) -> list[tuple[str, str]]:
    return [(f.label, f.value) for f in fields]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_view_model(name):
    expected = EXPECTED[name]
    pass_json, design = sample_pass(name)

    model = preview_model(pass_json, design.images, None, design.localizations)

    assert model.style == expected["style"]
    assert model.organization_name == expected["organization"]
    foreground = expected["colors"][0]
    assert (model.colors.foreground, model.colors.background) == expected["colors"]
    # No sample sets labelColor: Wallet draws labels in the text color.
    assert model.colors.label == foreground
    assert model.logo_text == pass_json.get("logoText", "")
    for group in GROUPS:
        assert pairs(getattr(model, group)) == expected.get(group, []), group
    assert set(model.images) == expected["images"]
    sharpest = design.images.get("logo@2x.png") or design.images["logo.png"]
    assert model.images["logo"].uri == data_uri(sharpest)
    assert not model.is_voided
    assert not model.is_expired

    # Apple's samples still use the single deprecated barcode, as PDF417.
    assert model.barcode.format == "PKBarcodeFormatPDF417"
    assert model.barcode.error is None
    assert model.barcode.text == expected["message"]
    scanned = decode(png_of(model.barcode.image))
    assert scanned.format.name == "PDF417"
    assert scanned.bytes == expected["message"].encode("iso-8859-1")


def test_sample_images_keep_their_size_in_points():
    pass_json, design = sample_pass("StoreCard")

    model = preview_model(pass_json, design.images)

    # strip@2x.png is 624x245 pixels, logo.png (no @2x) 90x80.
    assert (model.images["strip"].width, model.images["strip"].height) == (312, 122)
    assert (model.images["logo"].width, model.images["logo"].height) == (90, 80)


def test_boarding_pass_has_its_transit_icon():
    pass_json, design = sample_pass("BoardingPass")

    model = preview_model(pass_json, design.images)

    assert (model.transit.name, model.transit.glyph) == ("air", "\u2708")
    other, _ = sample_pass("Generic")
    assert preview_model(other, {}).transit is None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_preview_renders(app, name):
    expected = EXPECTED[name]
    pass_json, design = sample_pass(name)
    model = preview_model(pass_json, design.images)

    html = render(app, model)

    assert f"pass-style-{expected['style']}" in html
    assert str(escape(expected["organization"])) in html
    foreground, background = expected["colors"]
    assert f"--pass-bg: {background};" in html
    assert f"--pass-fg: {foreground};" in html
    for group in GROUPS:
        for label, value in expected.get(group, []):
            assert f'<span class="pass-value">{escape(value)}</span>' in html or (
                group == "back_fields" and f"<dd>{escape(value)}</dd>" in html
            ), value
            if label:
                assert str(escape(label)) in html, label
    images = BARCODE_IMG.findall(html)
    assert len(images) == 1
    scanned = decode(base64.b64decode(images[0]))
    assert scanned.bytes == expected["message"].encode("iso-8859-1")
    assert model.images["logo"].uri in html
    assert "pass-badge" not in html


def test_strip_sits_behind_the_primary_field(app):
    pass_json, design = sample_pass("StoreCard")

    html = render(app, preview_model(pass_json, design.images))

    strip = re.search(
        r'<div class="pass-strip" style="([^"]+)">(.*?)</div>\s*</div>', html, re.S
    )
    assert strip, "no strip block"
    assert "data:image/png;base64," in strip.group(1)
    assert "$21.75" in strip.group(2)


def test_boarding_pass_draws_the_route(app):
    pass_json, design = sample_pass("BoardingPass")

    html = render(app, preview_model(pass_json, design.images))

    route = html[html.index('class="pass-primary pass-route"') :]
    assert route.index(">SFO<") < route.index('aria-label="air"') < route.index(">JFK<")


@pytest.mark.parametrize(
    ("format", "message"),
    [
        ("PKBarcodeFormatQR", "Caf\u00e9 ticket 0042"),
        ("PKBarcodeFormatPDF417", "Caf\u00e9 ticket 0042"),
        ("PKBarcodeFormatAztec", "Caf\u00e9 ticket 0042"),
        # Code 128 holds ASCII only; an accent is refused (see below).
        ("PKBarcodeFormatCode128", "Cafe ticket 0042"),
    ],
)
def test_every_format_decodes(format, message):
    png = barcode_png(format, message, "iso-8859-1")

    scanned = decode(png)
    assert scanned.format.name == FORMAT_NAMES[format]
    assert scanned.bytes == message.encode("iso-8859-1")


def test_code128_and_utf8_barcodes():
    assert (
        decode(barcode_png("PKBarcodeFormatCode128", "ABC-12345")).text == "ABC-12345"
    )
    scanned = decode(barcode_png("PKBarcodeFormatQR", "\u20ac 5", "utf-8"))
    assert scanned.bytes == "\u20ac 5".encode()


@pytest.mark.parametrize(
    ("format", "message", "encoding", "reason"),
    [
        ("PKBarcodeFormatQR", "\u20ac 5", "iso-8859-1", "iso-8859-1 cannot hold"),
        ("PKBarcodeFormatQR", "x" * 5000, "iso-8859-1", "too long for a QR code"),
        ("PKBarcodeFormatPDF417", "x" * 5000, "iso-8859-1", "too long for a PDF417"),
        ("PKBarcodeFormatAztec", "x" * 5000, "iso-8859-1", "too long for an Aztec"),
        ("PKBarcodeFormatCode128", "x" * 81, "iso-8859-1", "at most 80 characters"),
        ("PKBarcodeFormatCode128", "Caf\u00e9", "iso-8859-1", "only ASCII"),
        ("PKBarcodeFormatQR", "", "iso-8859-1", "no message"),
        ("PKBarcodeFormatQR", "abc", "klingon-8", "not a text encoding"),
        ("PKBarcodeFormatQR", "x" * 100, "idna", "cannot be encoded as idna"),
        ("PKBarcodeFormatEAN13", "abc", "iso-8859-1", "not a barcode format"),
    ],
)
def test_unencodable_barcodes_raise_a_clear_error(format, message, encoding, reason):
    with pytest.raises(BarcodeError, match=reason):
        barcode_png(format, message, encoding)


def test_unencodable_barcode_shows_the_error_in_the_preview(app):
    pass_json, design = sample_pass("Coupon")
    pass_json["barcodes"] = [
        {
            "format": "PKBarcodeFormatQR",
            "message": "\u20ac 20 off",
            "messageEncoding": "iso-8859-1",
            "altText": "20 off",
        },
        {"format": "PKBarcodeFormatQR", "message": "fine", "messageEncoding": "utf-8"},
    ]

    model = preview_model(pass_json, design.images)
    html = render(app, model)

    assert model.barcode.image is None
    assert model.barcode.error == (
        "The message has characters iso-8859-1 cannot hold: '\u20ac'."
    )
    assert str(escape(model.barcode.error)) in html
    assert 'class="pass-barcode-error"' in html
    assert not BARCODE_IMG.search(html)
    assert "<figcaption>20 off</figcaption>" in html


def test_date_field_with_date_style_is_formatted(app):
    pass_json, design = sample_pass("Coupon")
    raw = pass_json["coupon"]["auxiliaryFields"][0]["value"]
    assert raw == "2013-04-24T10:00:00-05:00"

    html = render(app, preview_model(pass_json, design.images))

    assert '<span class="pass-value">4/24/13</span>' in html
    assert raw not in html
    assert "2013-04-24" not in html


@pytest.mark.parametrize(
    ("entry", "shown"),
    [
        (
            {"value": "2027-06-12T19:30:00+02:00", "dateStyle": "PKDateStyleMedium"},
            "Jun 12, 2027",
        ),
        (
            {"value": "2027-06-12T19:30:00+02:00", "timeStyle": "PKDateStyleShort"},
            f"7:30{NNBSP}PM",
        ),
        (
            {
                "value": "2027-06-12T19:30:00Z",
                "dateStyle": "PKDateStyleLong",
                "timeStyle": "PKDateStyleShort",
            },
            f"June 12, 2027, 7:30{NNBSP}PM",
        ),
        # No style: Wallet shows the string as written.
        ({"value": "2027-06-12T19:30:00+02:00"}, "2027-06-12T19:30:00+02:00"),
        # With PKDateStyleNone for both there is nothing to format.
        (
            {
                "value": "2027-06-12T19:30:00Z",
                "dateStyle": "PKDateStyleNone",
                "timeStyle": "PKDateStyleNone",
            },
            "2027-06-12T19:30:00Z",
        ),
        # A style on a value that is no date leaves it alone.
        ({"value": "soon", "dateStyle": "PKDateStyleShort"}, "soon"),
        ({"value": 0.25, "numberStyle": "PKNumberStylePercent"}, "25%"),
        ({"value": 1234.5, "numberStyle": "PKNumberStyleDecimal"}, "1,234.5"),
        ({"value": 12345, "numberStyle": "PKNumberStyleScientific"}, "1.2345E4"),
        ({"value": 42, "numberStyle": "PKNumberStyleSpellOut"}, "forty-two"),
        ({"value": 9.5, "currencyCode": "EUR"}, "\u20ac9.50"),
        ({"value": 9.5, "currencyCode": "usd"}, "$9.50"),
        ({"value": 1234.5}, "1234.5"),
        ({"value": True}, "true"),
        ({}, ""),
    ],
)
def test_format_value(entry, shown):
    assert format_value(entry) == shown


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "zero"),
        (15, "fifteen"),
        (40, "forty"),
        (100, "one hundred"),
        (1999, "one thousand nine hundred ninety-nine"),
        (2_000_300, "two million three hundred"),
        (-3, "minus three"),
        (2.0, "two"),
        (2.5, "2.5"),
    ],
)
def test_spell_out(number, words):
    assert spell_out(number) == words


def test_localized_labels_in_french(app):
    pass_json, design = sample_pass("Coupon")
    localizations = {
        "fr": {
            "EXPIRES": "EXPIRE LE",
            "Any premium dog food": "Toute nourriture premium pour chien",
            "20% off": "20 % de r\u00e9duction",
            "Paw Planet": "Plan\u00e8te Patte",
        },
        "de": {"EXPIRES": "G\u00dcLTIG BIS"},
    }
    images = {**design.images, "fr.lproj/logo.png": design.images["logo.png"]}

    model = preview_model(pass_json, images, "fr", localizations)
    html = render(app, model)

    assert pairs(model.primary_fields) == [
        ("Toute nourriture premium pour chien", "20 % de r\u00e9duction")
    ]
    # French labels, and the date in French order.
    assert pairs(model.auxiliary_fields) == [("EXPIRE LE", "24/04/2013")]
    assert model.logo_text == "Plan\u00e8te Patte"
    assert model.images["logo"].uri == data_uri(design.images["logo.png"])
    assert "EXPIRE LE" in html
    assert "EXPIRES" not in html
    # A regional variant falls back to the language's strings.
    assert (
        pairs(
            preview_model(pass_json, images, "fr-CA", localizations).auxiliary_fields
        )[0][0]
        == "EXPIRE LE"
    )
    # Without a language, or with one the pass lacks, the pass.json text shows.
    assert pairs(
        preview_model(pass_json, images, None, localizations).auxiliary_fields
    ) == [("EXPIRES", "4/24/13")]
    assert (
        preview_model(pass_json, images, "ja", localizations).auxiliary_fields[0].label
        == "EXPIRES"
    )


def test_voided_pass_shows_the_badge(app):
    pass_json, design = sample_pass("Event", is_voided=True)

    model = preview_model(pass_json, design.images)
    html = render(app, model)

    assert model.is_voided
    assert '<p class="pass-badge">Voided</p>' in html
    assert "pass-front is-voided" in html


def test_expired_pass_shows_the_badge(app):
    pass_json, design = sample_pass("Generic")
    pass_json["expirationDate"] = "2026-03-06T08:05:52+00:00"
    before = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)
    after = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)

    assert not preview_model(pass_json, design.images, now=before).is_expired
    model = preview_model(pass_json, design.images, now=after)

    assert model.is_expired
    assert '<p class="pass-badge">Expired</p>' in render(app, model)


def test_colors_default_like_wallet():
    plain = {"organizationName": "Plain", "generic": {}}
    assert preview_model(plain, {}).colors.__dict__ == {
        "foreground": "rgb(0, 0, 0)",
        "background": "rgb(255, 255, 255)",
        "label": "rgb(0, 0, 0)",
    }
    colored = {
        **plain,
        "foregroundColor": "rgb(1,2,3)",
        "backgroundColor": "rgb(300, 0, 0)",
        "labelColor": "rgb( 250, 204, 21 )",
    }
    colors = preview_model(colored, {}).colors
    assert (colors.foreground, colors.background, colors.label) == (
        "rgb(1, 2, 3)",
        "rgb(255, 255, 255)",
        "rgb(250, 204, 21)",
    )


def test_event_ticket_with_a_strip_hides_background_and_thumbnail():
    pass_json, design = sample_pass("Event")
    images = {**design.images, "strip@2x.png": design.images["background@2x.png"]}

    model = preview_model(pass_json, images)

    assert set(model.images) == {"icon", "logo", "strip"}


def test_a_broken_draft_still_previews(app):
    draft = {
        "organizationName": "Draft <b>Co</b>",
        "generic": {
            "headerFields": "not a list",
            "transitType": ["PKTransitTypeAir"],
            "primaryFields": [
                "not a field",
                {"key": "k", "label": "NO VALUE", "textAlignment": {}},
                {"key": "d", "value": "2027-06-12T19:30:00Z", "dateStyle": []},
            ],
            "backFields": [{"key": "n", "value": 3, "currencyCode": "NOPE"}],
        },
        "barcodes": [{"format": "PKBarcodeFormatQR", "message": 12}],
    }
    images = {"logo.png": b"not a png", "thumbnail@2x.png": b"\x89PNG broken"}

    model = preview_model(copy.deepcopy(draft), images)
    html = render(app, model)

    assert model.style == "generic"
    assert model.header_fields == []
    assert pairs(model.primary_fields) == [
        ("NO VALUE", ""),
        ("", "2027-06-12T19:30:00Z"),
    ]
    assert pairs(model.back_fields) == [("", "3 NOPE")]
    assert model.images == {}
    assert model.barcode.error == "The barcode has no message to encode."
    assert "Draft &lt;b&gt;Co&lt;/b&gt;" in html
    assert "<b>Co</b>" not in html
    # With two style keys the validator refuses the pass; the preview picks one.
    assert preview_model({**draft, "coupon": {}}, {}).style == "coupon"
