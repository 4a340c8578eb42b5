"""Importing Apple's sample passes and other tools' bundles as templates."""

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Template
from app.passes import service
from app.passes.importer import PassImportError, import_design, upgrade_design
from app.passes.strings import parse_strings, render_strings
from app.passes.validation import PassValidationError
from tests.bundle_check import unzip, verify_bundle
from tests.conftest import PASS_TYPE_ID, SAMPLES, TEAM_ID

WEB_SERVICE_URL = "https://passline.test/passkit"
SAMPLE_TOKEN = "vxwxd7J8AlNNFPS8k0a0FfUFtq0ewzFdc"
# What the import must change in each sample besides the per-pass keys and
# the barcode: the dates Apple wrote without seconds.
UPGRADED_DATES: dict[str, dict[tuple[Any, ...], str]] = {
    "BoardingPass": {("relevantDate",): "2012-07-22T14:25:00-08:00"},
    "Coupon": {("coupon", "auxiliaryFields", 0, "value"): "2013-04-24T10:00:00-05:00"},
    "Event": {("relevantDate",): "2011-12-08T13:00:00-08:00"},
    "Generic": {
        ("generic", "backFields", 2, "value"): "1980-05-07T10:00:00-05:00",
        ("generic", "backFields", 3, "value"): "1980-05-07T10:00:00-05:00",
        ("generic", "backFields", 4, "value"): "1980-05-07T10:00:00-05:00",
        ("generic", "backFields", 5, "value"): "2013-04-24T10:00:00-05:00",
    },
    "StoreCard": {},
}
# BoardingPass.pkpass has a trailing comma Wallet tolerates and json does not.
TRAILING_COMMA = (b'"value" :  "7/22",', b'"value" :  "7/22"')


def sample(name: str) -> Path:
    """Return an Apple sample's path; a missing sample fails the test."""
    path = SAMPLES / f"{name}.pkpass"
    assert path.is_file(), f"Apple's sample {path} is missing"
    return path


def sample_pass_json(name: str, raw: bytes) -> dict[str, Any]:
    if name == "BoardingPass":
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        raw = raw.replace(*TRAILING_COMMA)
    return json.loads(raw)


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def issue_and_verify(template, serial, chain_files, folder) -> dict[str, bytes]:
    pass_ = service.issue_pass(template, {}, serial_number=serial)
    return verify_bundle(service.signed_bundle(pass_), chain_files / "root.pem", folder)


def expected_pass_json(name: str, original: dict[str, Any], pass_) -> dict[str, Any]:
    expected = copy.deepcopy(original)
    expected["barcodes"] = [expected.pop("barcode")]
    expected.update(
        passTypeIdentifier=PASS_TYPE_ID,
        teamIdentifier=TEAM_ID,
        serialNumber=pass_.serial_number,
        authenticationToken=pass_.authentication_token,
        webServiceURL=WEB_SERVICE_URL,
    )
    for path, value in UPGRADED_DATES[name].items():
        target = expected
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return expected


@pytest.mark.parametrize("name", sorted(UPGRADED_DATES))
def test_apple_sample_becomes_a_signed_pass(name, pass_type, chain_files, tmp_path):
    source = unzip(sample(name).read_bytes())
    original = sample_pass_json(name, source["pass.json"])

    imported = import_design(sample(name))
    template = service.create_template(pass_type, name, imported)
    pass_ = service.issue_pass(template, {}, serial_number=f"{name}-0001")
    files = verify_bundle(
        service.signed_bundle(pass_), chain_files / "root.pem", tmp_path
    )

    pass_json = json.loads(files["pass.json"])
    assert pass_json == expected_pass_json(name, original, pass_)
    assert pass_json["serialNumber"] == f"{name}-0001"
    assert pass_json["authenticationToken"] != SAMPLE_TOKEN
    assert len(pass_json["authenticationToken"]) >= 16
    for key in ("organizationName", "description", "foregroundColor"):
        assert pass_json[key] == original[key]
    assert pass_json["backgroundColor"] == original["backgroundColor"]
    [barcode] = pass_json["barcodes"]
    assert barcode["message"] == original["barcode"]["message"]
    assert barcode["format"] == original["barcode"]["format"]
    assert "barcode" not in pass_json

    assert set(files) == set(source)
    images = set(source) - {"pass.json", "manifest.json", "signature"}
    assert images and all(path.endswith(".png") for path in images)
    for path in images:
        assert files[path] == source[path], path
    assert files["signature"] != source["signature"]
    assert files["manifest.json"] != source["manifest.json"]
    assert imported.skipped == []
    assert set(imported.images) == images


def test_sample_dates_as_imported():
    event = import_design(sample("Event")).design
    coupon = import_design(sample("Coupon")).design
    generic = import_design(sample("Generic")).design
    boarding = import_design(sample("BoardingPass")).design

    assert event["relevantDate"] == "2011-12-08T13:00:00-08:00"
    assert coupon["coupon"]["auxiliaryFields"][0]["value"] == (
        "2013-04-24T10:00:00-05:00"
    )
    back = {f["key"]: f["value"] for f in generic["generic"]["backFields"]}
    assert back == {
        "numberStyle": 200,
        "currency": 200,
        "dateFull": "1980-05-07T10:00:00-05:00",
        "timeFull": "1980-05-07T10:00:00-05:00",
        "dateTime": "1980-05-07T10:00:00-05:00",
        "relStyle": "2013-04-24T10:00:00-05:00",
    }
    # Text that only looks a little like a date is left alone.
    aux = boarding["boardingPass"]["auxiliaryFields"]
    assert [f["value"] for f in aux] == ["2:25 PM", "815", "Coach", "7/22"]
    for design in (event, coupon, generic, boarding):
        for key in ("authenticationToken", "serialNumber", "formatVersion"):
            assert key not in design


def test_relevant_dates_and_offsets_are_upgraded():
    design = upgrade_design(
        {
            "generic": {},
            "relevantDates": [
                {"startDate": "2027-01-02T18:00-0800", "endDate": "2027-01-02T20:00Z"},
                {"date": "2027-01-03T09:30:15+01:00"},
            ],
            "expirationDate": "2027-02-01T00:00+01:00",
        }
    )

    assert design["relevantDates"] == [
        {"startDate": "2027-01-02T18:00:00-08:00", "endDate": "2027-01-02T20:00:00Z"},
        {"date": "2027-01-03T09:30:15+01:00"},
    ]
    assert design["expirationDate"] == "2027-02-01T00:00:00+01:00"
    assert upgrade_design({"generic": {}, "relevantDates": 5})["relevantDates"] == 5


def test_pass_folder_imports_the_same(pass_type, chain_files, tmp_path):
    folder = tmp_path / "Event.pass"
    with zipfile.ZipFile(sample("Event")) as archive:
        archive.extractall(folder)
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")

    from_folder = import_design(folder)
    from_zip = import_design(sample("Event"))

    assert from_folder.style == from_zip.style == "eventTicket"
    assert from_folder.design == from_zip.design
    assert from_folder.images == from_zip.images
    assert from_folder.localizations == from_zip.localizations == {}
    assert from_folder.skipped == [".DS_Store"]
    template = service.create_template(pass_type, "Event folder", from_folder)
    files = issue_and_verify(template, "FOLDER-1", chain_files, tmp_path)
    assert ".DS_Store" not in files
    assert files["background@2x.png"] == (folder / "background@2x.png").read_bytes()


FRENCH_STRINGS = (
    "/* Labels for French devices. */\n"
    '"EVENT" = "ÉVÉNEMENT";\n'
    '"LOCATION" = "LIEU"; // the venue\n'
    '"The Beat Goes On" = "Le \\"rythme\\" continue";\n'
)
FRENCH = {
    "EVENT": "ÉVÉNEMENT",
    "LOCATION": "LIEU",
    "The Beat Goes On": 'Le "rythme" continue',
}


def test_utf16_strings_are_imported_and_written_back(pass_type, chain_files, tmp_path):
    files = unzip(sample("Event").read_bytes())
    files["fr.lproj/pass.strings"] = FRENCH_STRINGS.encode("utf-16")
    files["fr.lproj/logo.png"] = files["logo@2x.png"]
    assert files["fr.lproj/pass.strings"][:2] in (b"\xff\xfe", b"\xfe\xff")

    imported = import_design(make_zip(files))
    template = service.create_template(pass_type, "Event FR", imported)
    db.session.expire_all()
    stored = db.session.get(Template, template.id)

    assert imported.localizations == {"fr": FRENCH}
    assert stored.localizations == {"fr": FRENCH}
    assert {image.path for image in stored.images} >= {"fr.lproj/logo.png"}
    bundle = issue_and_verify(stored, "FR-1", chain_files, tmp_path)
    assert bundle["fr.lproj/pass.strings"] == render_strings(FRENCH)
    assert parse_strings(bundle["fr.lproj/pass.strings"]) == FRENCH
    assert bundle["fr.lproj/logo.png"] == files["logo@2x.png"]


def test_junk_files_are_skipped(pass_type, chain_files, tmp_path):
    files = unzip(sample("StoreCard").read_bytes())
    junk = {
        ".DS_Store": b"Bud1",
        "__MACOSX/._icon.png": b"\x00\x05\x16\x07",
        "__MACOSX/._pass.json": b"\x00\x05\x16\x07",
        "Thumbs.db": b"\xd0\xcf",
        "extras/icon.png": files["icon.png"],
        "fr.lproj/notes.txt": b"translator notes",
    }

    imported = import_design(make_zip({**files, **junk}))

    assert imported.skipped == sorted(junk)
    assert set(imported.images) == {
        "icon.png",
        "icon@2x.png",
        "logo.png",
        "strip.png",
        "strip@2x.png",
    }
    template = service.create_template(pass_type, "Store card", imported)
    bundle = issue_and_verify(template, "SC-1", chain_files, tmp_path)
    assert not set(junk) & set(bundle)


def _pass_json_zip(pass_json: bytes, **others: bytes) -> bytes:
    icon = unzip(sample("Generic").read_bytes())["icon.png"]
    return make_zip({"pass.json": pass_json, "icon.png": icon, **others})


def _damaged_zip() -> bytes:
    data = bytearray(_pass_json_zip(b'{"generic": {}}' * 40))
    # Flip bytes inside pass.json's compressed data: its CRC no longer matches.
    start = data.index(b"pass.json") + len(b"pass.json")
    for offset in (5, 9, 13):
        data[start + offset] ^= 0xFF
    return bytes(data)


def _encrypted_zip() -> bytes:
    data = bytearray(_pass_json_zip(b'{"generic": {}}'))
    # Set the "encrypted" flag of the first entry in both of its headers.
    data[6] |= 0x01
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x01
    return bytes(data)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"%PDF-1.7 not a pass", "That is not a .pkpass file (not a ZIP archive)."),
        (b"", "That is not a .pkpass file (not a ZIP archive)."),
        (
            make_zip({"icon.png": b"png"}),
            "There is no pass.json at the top of that pass.",
        ),
        (
            make_zip({"Event.pass/pass.json": b'{"generic": {}}'}),
            "There is no pass.json at the top of that pass.",
        ),
        (
            make_zip({"pass.json": b'{"generic": {"primaryFields": [}}'}),
            "pass.json is not valid JSON: ",
        ),
        (make_zip({"pass.json": b"\xff\xfe{}"}), "pass.json is not valid JSON: "),
        (make_zip({"pass.json": b"[1, 2]"}), "pass.json must hold a JSON object."),
        (
            make_zip({"pass.json": b'{"generic": {}, "coupon": {}}'}),
            "pass.json needs exactly one style key, such as generic.",
        ),
        (
            make_zip(
                {"pass.json": b'{"generic": {}}', "fr.lproj/pass.strings": b"\xff"}
            ),
            "fr.lproj/pass.strings is not UTF-8 or UTF-16 text.",
        ),
        (
            make_zip({"pass.json": b"[" * 100_000 + b"]" * 100_000}),
            "pass.json is nested too deeply to read.",
        ),
    ],
    ids=[
        "not a zip",
        "empty",
        "no pass.json",
        "pass.json in a folder",
        "invalid JSON",
        "not UTF-8",
        "not an object",
        "two styles",
        "bad strings encoding",
        "nested too deeply",
    ],
)
def test_unusable_sources_are_refused_clearly(source, message):
    with pytest.raises(PassImportError) as caught:
        import_design(source)

    assert str(caught.value).startswith(message)


@pytest.mark.parametrize("source", [_damaged_zip, _encrypted_zip])
def test_unreadable_zip_is_refused_clearly(source):
    with pytest.raises(PassImportError, match="damaged or password-protected"):
        import_design(source())


def test_design_with_broken_field_groups_is_refused_at_template_creation(pass_type):
    pass_json = json.dumps(
        {
            "organizationName": "Toy Town",
            "description": "Toy Town Membership",
            "generic": {"primaryFields": 5, "backFields": {"key": "x"}},
        }
    ).encode()

    imported = import_design(_pass_json_zip(pass_json))
    with pytest.raises(PassValidationError) as caught:
        service.create_template(pass_type, "Broken", imported)

    assert caught.value.errors == [
        "primaryFields must be a list",
        "backFields must be a list",
    ]
    assert db.session.scalar(select(func.count(Template.id))) == 0


# The pass.strings parser


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"]
)
def test_strings_parser_reads_every_encoding(encoding):
    if encoding.endswith("-bom"):
        codec = encoding.removesuffix("-bom")
        data = "\ufeff".encode(codec) + FRENCH_STRINGS.encode(codec)
    else:
        data = FRENCH_STRINGS.encode(encoding)

    assert parse_strings(data) == FRENCH


def test_strings_parser_handles_comments_and_escapes():
    data = (
        b"/* A block comment\n"
        b'   with "quoted" = "text"; inside. */\n'
        b'// "commented" = "out";\n'
        b'"plain" = "value";\n'
        b'"quote" = "say \\"hi\\"";  // a comment after an entry\n'
        b'"escapes" = "line\\nbreak\\ttab \\\\ backslash";\n'
        b'"url" = "see https://passline.test/help";\n'
        b'"slashes" = "keep /* this */ and // that";\n'
        b'"spaced"   =\n   "over lines"   ;\n'
        b'"with \\"quoted\\" key" = "ok";\n'
    )

    assert parse_strings(data) == {
        "plain": "value",
        "quote": 'say "hi"',
        "escapes": "line\nbreak\ttab \\ backslash",
        "url": "see https://passline.test/help",
        "slashes": "keep /* this */ and // that",
        "spaced": "over lines",
        'with "quoted" key': "ok",
    }


def test_strings_round_trip():
    strings = {"A": 'quote " and \\ slash', "B": "two\nlines", "É": "été\ttab"}

    assert parse_strings(render_strings(strings)) == strings


def test_a_template_with_a_date_placeholder_can_be_created(pass_type):
    imported = import_design(sample("Event"))
    imported.design["eventTicket"]["secondaryFields"].append(
        {
            "key": "doors",
            "label": "DOORS",
            "value": "{{doors}}",
            "dateStyle": "PKDateStyleShort",
        }
    )

    template = service.create_template(pass_type, "Dated", imported)
    issued = service.issue_pass(template, {"doors": "2027-05-01T19:00:00+02:00"})

    with pytest.raises(PassValidationError, match="its value must be a date"):
        service.issue_pass(template, {"doors": "tomorrow"})
    assert issued.data == {"doors": "2027-05-01T19:00:00+02:00"}
