"""The checks a pass.json must pass before signing, and placeholder filling."""

import copy
from typing import Any

import pytest

from app.passes.bundle import (
    SAMPLE_DATE,
    PassDataError,
    fill_placeholders,
    placeholders,
    render_pass_json,
    sample_values,
)
from app.passes.validation import PassValidationError, validate_pass

DELETE = object()
FILES = ["icon.png", "icon@2x.png", "logo.png", "fr.lproj/pass.strings"]
# Exactly 16 characters: the shortest token Wallet accepts.
TOKEN = "0123456789abcdef"
VALID = {
    "formatVersion": 1,
    "passTypeIdentifier": "pass.test.passline.tickets",
    "serialNumber": "TKT-0001",
    "teamIdentifier": "TESTTEAM01",
    "organizationName": "Passline Live",
    "description": "Summer Night Live ticket",
    "webServiceURL": "https://passline.test/passkit",
    "authenticationToken": TOKEN,
    "foregroundColor": "rgb(255, 255, 255)",
    "backgroundColor": "rgb(31,41,55)",
    "labelColor": "rgb(250, 204, 21)",
    "relevantDate": "2027-06-12T19:30:00+02:00",
    "expirationDate": "2027-06-13T04:00:00Z",
    "relevantDates": [{"startDate": "2027-06-12T18:00:00+02:00"}],
    "locations": [{"latitude": 48.8566, "longitude": 2.3522}] * 10,
    "barcodes": [
        {
            "format": "PKBarcodeFormatQR",
            "message": "TKT-0001",
            "messageEncoding": "iso-8859-1",
        }
    ],
    "eventTicket": {
        "primaryFields": [{"key": "event", "label": "EVENT", "value": "Summer"}],
        "secondaryFields": [
            {
                "key": "date",
                "label": "DATE",
                "value": "2027-06-12T19:30:00+02:00",
                "dateStyle": "PKDateStyleMedium",
            }
        ],
        "auxiliaryFields": [
            {"key": "gate", "value": "B", "changeMessage": "Gate now %@"},
            {"key": "seat", "value": 14},
        ],
        "backFields": [{"key": "terms", "value": "Doors open at 18:30."}],
    },
}


def edited(edits: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of VALID with dotted paths set, or removed with DELETE."""
    pass_json = copy.deepcopy(VALID)
    for path, value in edits.items():
        *parents, last = path.split(".")
        target: Any = pass_json
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        key = int(last) if isinstance(target, list) else last
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
    return pass_json


def errors_of(pass_json: dict[str, Any], files: list[str], **options) -> list[str]:
    with pytest.raises(PassValidationError) as caught:
        validate_pass(pass_json, files, **options)
    return caught.value.errors


GENERIC = {"eventTicket": DELETE, "generic": {"primaryFields": []}}
ONE_STYLE = (
    "exactly one style key is needed "
    "(boardingPass, coupon, eventTicket, generic, storeCard)"
)
DATE_MESSAGE = "must be a W3C date-time with seconds and an offset"

CASES = [
    # Required keys and the style key
    ({"organizationName": DELETE}, FILES, "organizationName is required"),
    ({"teamIdentifier": DELETE}, FILES, "teamIdentifier is required"),
    ({"formatVersion": DELETE}, FILES, "formatVersion is required"),
    ({"generic": {}}, FILES, f"{ONE_STYLE}; found 2"),
    ({"eventTicket": DELETE}, FILES, f"{ONE_STYLE}; found 0"),
    ({"formatVersion": 2}, FILES, "formatVersion must be the integer 1"),
    ({"formatVersion": "1"}, FILES, "formatVersion must be the integer 1"),
    ({"formatVersion": True}, FILES, "formatVersion must be the integer 1"),
    ({"formatVersion": 1.0}, FILES, "formatVersion must be the integer 1"),
    # Colors
    (
        {"backgroundColor": "#ff0000"},
        FILES,
        "backgroundColor must look like rgb(255, 128, 0)",
    ),
    (
        {"foregroundColor": "rgb(300,0,0)"},
        FILES,
        "foregroundColor must look like rgb(255, 128, 0)",
    ),
    ({"labelColor": "red"}, FILES, "labelColor must look like rgb"),
    # Dates
    (
        {"relevantDate": "2027-06-12T19:30+02:00"},
        FILES,
        f"relevantDate {DATE_MESSAGE}",
    ),
    (
        {"relevantDate": "2027-06-12T19:30:00.250+02:00"},
        FILES,
        f"relevantDate {DATE_MESSAGE}",
    ),
    (
        {"expirationDate": "2027-06-13T04:00:00"},
        FILES,
        f"expirationDate {DATE_MESSAGE}",
    ),
    (
        {"expirationDate": "2027-06-13T04:00+00:00"},
        FILES,
        f"expirationDate {DATE_MESSAGE}",
    ),
    (
        {"relevantDates.0.startDate": "2027-06-12T18:00"},
        FILES,
        "relevantDates startDate must be a W3C date-time",
    ),
    ({"relevantDates": 5}, FILES, "relevantDates must be a list of objects"),
    (
        {"relevantDates": "2027-06-12T18:00:00+02:00"},
        FILES,
        "relevantDates must be a list of objects",
    ),
    ({"relevantDates": [5]}, FILES, "relevantDates must be a list of objects"),
    (
        {"eventTicket.secondaryFields.0.value": "2027-06-12T19:30"},
        FILES,
        "field 'date' has a date style, so its value must be a date",
    ),
    (
        {"eventTicket.secondaryFields.0.value": "2027-06-12T19:30:00.5+02:00"},
        FILES,
        "field 'date' has a date style, so its value must be a date",
    ),
    (
        {"eventTicket.secondaryFields.0.value": "2027-06-12T19:30:00"},
        FILES,
        "field 'date' has a date style, so its value must be a date",
    ),
    # Fields
    (
        {"eventTicket.backFields.0.key": "gate"},
        FILES,
        "field key 'gate' is used twice; keys are unique per pass",
    ),
    (
        {"eventTicket.auxiliaryFields.0.changeMessage": "Gate changed"},
        FILES,
        "changeMessage of field 'gate' must contain %@",
    ),
    (
        {"eventTicket.auxiliaryFields.1.value": True},
        FILES,
        "field 'seat' needs a value",
    ),
    # Barcodes
    (
        {
            "barcodes": DELETE,
            "barcode": {
                "format": "PKBarcodeFormatQR",
                "message": "TKT-0001",
                "messageEncoding": "iso-8859-1",
            },
        },
        FILES,
        "use a barcodes array; the single barcode key is deprecated",
    ),
    ({"barcodes": VALID["barcodes"][0]}, FILES, "barcodes must be an array"),
    (
        {"barcodes.0.format": "QR"},
        FILES,
        "each barcode needs a format such as PKBarcodeFormatQR",
    ),
    ({"barcodes.0.message": DELETE}, FILES, "each barcode needs a message"),
    # The web service
    (
        {"authenticationToken": TOKEN[:15]},
        FILES,
        "authenticationToken must be at least 16 characters",
    ),
    (
        {"authenticationToken": DELETE},
        FILES,
        "authenticationToken must be at least 16 characters",
    ),
    (
        {"webServiceURL": "http://passline.test/passkit"},
        FILES,
        "webServiceURL must be an https:// URL",
    ),
    (
        {"webServiceURL": "https://passline.test/passkit/v1"},
        FILES,
        "webServiceURL must not end in /v1: Wallet adds it",
    ),
    (
        {"webServiceURL": "https://passline.test/passkit/v1/"},
        FILES,
        "webServiceURL must not end in /v1: Wallet adds it",
    ),
    # Style details
    (
        {"eventTicket": DELETE, "boardingPass": {"primaryFields": []}},
        FILES,
        "boardingPass needs a transitType such as PKTransitTypeAir",
    ),
    (
        {"locations": VALID["locations"] * 2},
        FILES,
        "locations must be a list of at most 10 entries",
    ),
    (
        {"locations.0": {"latitude": "48.8", "longitude": 2.35}},
        FILES,
        "each location needs numeric latitude and longitude",
    ),
    # Files
    (GENERIC, [*FILES, "strip.png"], "a generic pass cannot show a strip image"),
    (GENERIC, [*FILES, "strip@2x.png"], "a generic pass cannot show a strip image"),
    ({}, ["logo.png", "logo@2x.png"], "an icon.png is required"),
    ({}, [*FILES, ".DS_Store"], ".DS_Store is not allowed in a pass"),
    ({}, [*FILES, "__MACOSX/x.png"], "__MACOSX/x.png is not allowed in a pass"),
    ({}, [*FILES, "folder/icon.png"], "folder/icon.png is not allowed in a pass"),
    ({}, [*FILES, "../icon.png"], "../icon.png is not allowed in a pass"),
    ({}, [*FILES, "notes.txt"], "notes.txt is not allowed in a pass"),
    (
        {},
        [*FILES, "strip.png", "background@2x.png"],
        "an eventTicket shows a strip or a background and thumbnail",
    ),
]


@pytest.mark.parametrize(
    ("edits", "files", "expected"), CASES, ids=[case[2] for case in CASES]
)
def test_each_rule_refuses_its_broken_pass(edits, files, expected):
    errors = errors_of(edited(edits), files)

    assert len(errors) == 1, errors
    assert expected in errors[0]


def test_valid_pass_has_no_errors():
    validate_pass(copy.deepcopy(VALID), FILES)


@pytest.mark.parametrize(
    ("edits", "files"),
    [
        (
            {
                "eventTicket": DELETE,
                "boardingPass": {"transitType": "PKTransitTypeAir"},
            },
            [*FILES, "footer@2x.png"],
        ),
        ({"eventTicket": DELETE, "storeCard": {}}, [*FILES, "strip@3x.png"]),
        ({}, [*FILES, "background.png", "thumbnail@2x.png"]),
        ({}, [*FILES, "fr.lproj/logo@2x.png", "en.lproj/pass.strings"]),
        ({"expirationDate": "2027-06-13T04:00:00-07:00"}, FILES),
    ],
)
def test_other_valid_shapes_pass(edits, files):
    validate_pass(edited(edits), files)


def test_http_web_service_only_when_allowed():
    pass_json = edited({"webServiceURL": "http://127.0.0.1:5000/passkit"})

    validate_pass(pass_json, FILES, allow_http=True)
    assert errors_of(pass_json, FILES) == ["webServiceURL must be an https:// URL"]


def test_every_problem_is_listed_at_once():
    pass_json = edited(
        {"organizationName": DELETE, "backgroundColor": "#000", "barcodes": {}}
    )

    with pytest.raises(PassValidationError) as caught:
        validate_pass(pass_json, ["logo.png"])

    assert caught.value.errors == [
        "organizationName is required",
        "backgroundColor must look like rgb(255, 128, 0)",
        "barcodes must be an array",
        "an icon.png is required",
    ]
    assert str(caught.value) == "; ".join(caught.value.errors)


# Filling placeholders


def test_whole_placeholder_keeps_the_value_type():
    design = {
        "balance": "{{balance}}",
        "points": "{{ points }}",
        "member": "{{member}}",
    }

    filled = fill_placeholders(
        design, {"balance": 21.75, "points": 1200, "member": True}
    )

    assert filled == {"balance": 21.75, "points": 1200, "member": True}
    assert type(filled["points"]) is int


def test_placeholder_inside_text_becomes_text():
    filled = fill_placeholders(
        {"value": "Seat {{seat}}, gate {{ gate }}"}, {"seat": 14, "gate": "B"}
    )

    assert filled == {"value": "Seat 14, gate B"}


def test_nested_design_is_filled_and_other_values_kept():
    design = {
        "fields": [{"key": "holder", "value": "{{holder}}", "order": 2}],
        "voidable": False,
        "note": None,
        "literal": "no {placeholder} here",
    }

    filled = fill_placeholders(design, {"holder": "Ann"})

    assert filled == {
        "fields": [{"key": "holder", "value": "Ann", "order": 2}],
        "voidable": False,
        "note": None,
        "literal": "no {placeholder} here",
    }
    assert design["fields"][0]["value"] == "{{holder}}"


@pytest.mark.parametrize("design", ["{{seat}}", "Seat {{seat}}", ["{{ seat }}"]])
def test_missing_placeholder_is_named(design):
    with pytest.raises(
        PassDataError, match=r"no value for the placeholder \{\{seat\}\}"
    ):
        fill_placeholders(design, {"gate": "B"})


def test_placeholders_are_listed():
    design = {"a": "{{holder}}", "b": ["Seat {{ seat }}", {"c": "{{gate}}"}], "d": 4}

    assert placeholders(design) == {"holder", "seat", "gate"}


def test_render_pass_json_sets_the_per_pass_keys():
    design = {
        "description": "Ticket {{serialNumber}}",
        "serialNumber": "from-template",
        "authenticationToken": "from-template-0000",
        "voided": True,
        "generic": {"primaryFields": [{"key": "n", "value": "{{n}}"}]},
    }

    pass_json = render_pass_json(
        design,
        {"n": 3},
        pass_type_identifier="pass.test.passline.tickets",
        team_identifier="TESTTEAM01",
        serial_number="S-9",
        authentication_token=TOKEN,
        web_service_url="https://passline.test/passkit",
    )

    assert pass_json == {
        "formatVersion": 1,
        "description": "Ticket S-9",
        "generic": {"primaryFields": [{"key": "n", "value": 3}]},
        "passTypeIdentifier": "pass.test.passline.tickets",
        "teamIdentifier": "TESTTEAM01",
        "serialNumber": "S-9",
        "authenticationToken": TOKEN,
        "webServiceURL": "https://passline.test/passkit",
    }


def test_designs_with_date_color_and_message_placeholders_pass_the_check():
    design = {
        "backgroundColor": "{{color}}",
        "relevantDate": "{{doors}}",
        "generic": {
            "primaryFields": [
                {
                    "key": "when",
                    "value": "{{doors}}",
                    "dateStyle": "PKDateStyleShort",
                    "changeMessage": "{{message}}",
                },
                {"key": "who", "value": "{{holder}}"},
            ]
        },
    }

    assert sample_values(design) == {
        "color": "rgb(0, 0, 0)",
        "doors": SAMPLE_DATE,
        "message": "Changed to %@",
        "holder": "sample",
    }


def test_validation_refuses_impossible_dates_on_every_path():
    pass_json = {
        "formatVersion": 1,
        "passTypeIdentifier": "pass.test",
        "serialNumber": "1",
        "teamIdentifier": "T",
        "organizationName": "O",
        "description": "D",
        "generic": {
            "primaryFields": [
                {"key": "d", "value": "2027-04-31T10:00:00Z", "dateStyle": "x"}
            ]
        },
        "relevantDate": "2027-02-30T10:00:00+01:00",
        "expirationDate": "2027-12-01T24:00:00+01:00",
        "relevantDates": [{"startDate": "2027-06-31T10:00:00Z"}],
    }

    with pytest.raises(PassValidationError) as caught:
        validate_pass(pass_json, ["icon.png"])

    assert caught.value.errors == [
        "relevantDate 2027-02-30T10:00:00+01:00 is not a real date and time: "
        "day is out of range for month",
        "expirationDate 2027-12-01T24:00:00+01:00 is not a real date and time: "
        "hour must be in 0..23",
        "relevantDates startDate must be a W3C date-time",
        "field 'd' has a date style, so its value must be a date",
    ]
