"""The admin commands: exit codes, what they print and the rows they leave."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from app.demo import demo_design
from app.devchain import issue_certificate
from app.extensions import db
from app.models import (
    DownloadLink,
    Merchant,
    Pass,
    PassType,
    PushAttempt,
    Template,
    TemplateImage,
    User,
)
from app.passes import service
from app.passes.service import signing_identity
from tests.bundle_check import verify_bundle
from tests.conftest import PASS_TYPE_ID, SAMPLES

EVENT = SAMPLES / "Event.pkpass"
PKPASS_MIME = "application/vnd.apple.pkpass"
PEM_FILES = ["pass-type-key.pem", "pass-type.pem", "root.pem", "wwdr.pem"]
PUSH_TOKEN = "c4" * 32


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _counts() -> dict[str, int]:
    models = (Merchant, User, PassType, Template, Pass, DownloadLink)
    return {model.__name__: _count(model) for model in models}


def _lines(result) -> dict[str, str]:
    """Read `key: value` lines the commands print."""
    pairs = (line.partition(": ") for line in result.output.splitlines())
    return {key.strip(): value.strip() for key, _, value in pairs if value}


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _subject(certificate: x509.Certificate, oid) -> str:
    return certificate.subject.get_attributes_for_oid(oid)[0].value


@pytest.fixture
def dev_chain(runner, tmp_path):
    """Run dev-chain once and return its folder."""
    out = tmp_path / "dev-chain"
    result = runner.invoke(
        args=["dev-chain", "--out", str(out), "--p12-password", "pw"]
    )
    assert result.exit_code == 0, result.output
    return out


# dev-chain


def test_dev_chain_writes_a_chain_that_fits_together(app, runner, dev_chain):
    assert sorted(p.name for p in dev_chain.iterdir()) == sorted(
        [*PEM_FILES, "pass-type.p12"]
    )
    root = _load(dev_chain / "root.pem")
    wwdr = _load(dev_chain / "wwdr.pem")
    certificate = _load(dev_chain / "pass-type.pem")
    key = serialization.load_pem_private_key(
        (dev_chain / "pass-type-key.pem").read_bytes(), None
    )

    wwdr.verify_directly_issued_by(root)
    certificate.verify_directly_issued_by(wwdr)
    assert certificate.public_key() == key.public_key()
    assert _subject(certificate, NameOID.USER_ID) == "pass.dev.passline.example"
    assert _subject(certificate, NameOID.ORGANIZATIONAL_UNIT_NAME) == "PASSLINE01"
    p12_key, p12_cert, _ = pkcs12.load_key_and_certificates(
        (dev_chain / "pass-type.p12").read_bytes(), b"pw"
    )
    assert p12_cert == certificate
    assert p12_key.public_key() == key.public_key()
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(
            (dev_chain / "pass-type.p12").read_bytes(), b"wrong"
        )
    assert _counts()["PassType"] == 0


def test_dev_chain_prints_that_it_is_not_for_devices(runner, tmp_path):
    out = tmp_path / "custom"
    result = runner.invoke(
        args=[
            "dev-chain",
            "--out",
            str(out),
            "--pass-type-id",
            "pass.example.custom",
            "--team-id",
            "CUSTOM0001",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "not installable on a real iPhone" in result.output
    assert str(out) in result.output
    # Without --p12-password there is no .p12.
    assert sorted(p.name for p in out.iterdir()) == PEM_FILES
    certificate = _load(out / "pass-type.pem")
    assert _subject(certificate, NameOID.USER_ID) == "pass.example.custom"
    assert _subject(certificate, NameOID.ORGANIZATIONAL_UNIT_NAME) == "CUSTOM0001"


# create-merchant


def test_create_merchant(runner):
    result = runner.invoke(
        args=["create-merchant", "Corner Café", "Owner@Cafe.test", "--password", "s3"]
    )

    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User)).one()
    assert result.output == (
        f"merchant {user.merchant_id} created; sign in as Owner@Cafe.test\n"
    )
    assert user.email == "owner@cafe.test"
    assert user.merchant.name == "Corner Café"
    assert user.password_hash != "s3"
    assert check_password_hash(user.password_hash, "s3")


def test_create_merchant_asks_for_the_password_twice(runner):
    result = runner.invoke(
        args=["create-merchant", "Kiosk", "kiosk@venue.test"], input="pw1\npw1\n"
    )

    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User)).one()
    assert check_password_hash(user.password_hash, "pw1")


def test_create_merchant_refuses_a_taken_email(runner, merchant):
    before = _counts()

    result = runner.invoke(
        args=["create-merchant", "Copycat", "OWNER@venue.test", "--password", "x"]
    )

    assert result.exit_code == 1
    assert "A user with the email owner@venue.test already exists." in result.output
    assert "Traceback" not in result.output
    assert _counts() == before
    assert db.session.scalars(select(Merchant.name)).all() == ["Test Venue"]


# import-pass-type


def test_import_pass_type_from_p12(runner, merchant, dev_chain):
    result = runner.invoke(
        args=[
            "import-pass-type",
            "owner@venue.test",
            "--p12",
            str(dev_chain / "pass-type.p12"),
            "--password",
            "pw",
            "--wwdr",
            str(dev_chain / "wwdr.pem"),
        ]
    )

    assert result.exit_code == 0, result.output
    certificate = _load(dev_chain / "pass-type.pem")
    expires = certificate.not_valid_after_utc
    assert result.output == (
        "pass type pass.dev.passline.example (team PASSLINE01) added; "
        f"certificate expires {expires:%Y-%m-%d}\n"
    )
    pass_type = db.session.scalars(select(PassType)).one()
    assert pass_type.merchant_id == merchant.id
    assert pass_type.pass_type_identifier == "pass.dev.passline.example"
    assert pass_type.team_identifier == "PASSLINE01"
    assert pass_type.certificate_pem == (dev_chain / "pass-type.pem").read_bytes()
    assert pass_type.wwdr_certificate_pem == (dev_chain / "wwdr.pem").read_bytes()
    assert pass_type.certificate_expires_at == expires.replace(tzinfo=None)
    assert b"PRIVATE KEY" not in pass_type.private_key_encrypted
    key = signing_identity(pass_type).private_key
    assert key.public_key() == certificate.public_key()


def test_import_pass_type_from_pem_files(runner, merchant, chain_files):
    result = runner.invoke(
        args=[
            "import-pass-type",
            "owner@venue.test",
            "--cert",
            str(chain_files / "pass-type.pem"),
            "--key",
            str(chain_files / "pass-type-key.pem"),
            "--wwdr",
            str(chain_files / "wwdr.pem"),
        ]
    )

    assert result.exit_code == 0, result.output
    assert f"pass type {PASS_TYPE_ID} (team TESTTEAM01) added" in result.output
    pass_type = db.session.scalars(select(PassType)).one()
    assert (pass_type.pass_type_identifier, pass_type.team_identifier) == (
        PASS_TYPE_ID,
        "TESTTEAM01",
    )

    # The same pass type a second time is refused, and nothing is added.
    again = runner.invoke(
        args=[
            "import-pass-type",
            "owner@venue.test",
            "--cert",
            str(chain_files / "pass-type.pem"),
            "--key",
            str(chain_files / "pass-type-key.pem"),
            "--wwdr",
            str(chain_files / "wwdr.pem"),
        ]
    )
    assert again.exit_code == 1
    assert f"The pass type {PASS_TYPE_ID} is already set up here." in again.output
    assert _count(PassType) == 1


def _import_args(dev_chain, email, password, wwdr=None):
    return [
        "import-pass-type",
        email,
        "--p12",
        str(dev_chain / "pass-type.p12"),
        "--password",
        password,
        "--wwdr",
        str(wwdr or dev_chain / "wwdr.pem"),
    ]


def test_import_pass_type_with_a_wrong_p12_password(runner, merchant, dev_chain):
    result = runner.invoke(args=_import_args(dev_chain, "owner@venue.test", "nope"))

    assert result.exit_code == 1
    assert (
        "Error: Could not open the .p12: the password is wrong or the file is damaged."
        in result.output
    )
    assert _count(PassType) == 0


def test_import_pass_type_with_another_chains_wwdr(
    runner, merchant, dev_chain, chain_files
):
    result = runner.invoke(
        args=_import_args(dev_chain, "owner@venue.test", "pw", chain_files / "wwdr.pem")
    )

    assert result.exit_code == 1
    assert "The WWDR certificate did not issue this certificate" in result.output
    assert "Passline Dev WWDR" in result.output
    assert _count(PassType) == 0


def test_import_pass_type_for_an_unknown_email(runner, merchant, dev_chain):
    result = runner.invoke(args=_import_args(dev_chain, "nobody@venue.test", "pw"))

    assert result.exit_code == 1
    assert "Error: No user signs in as nobody@venue.test." in result.output
    assert _count(PassType) == 0


def test_import_pass_type_takes_one_kind_of_certificate(runner, merchant, dev_chain):
    result = runner.invoke(
        args=[
            *_import_args(dev_chain, "owner@venue.test", "pw"),
            "--cert",
            str(dev_chain / "pass-type.pem"),
            "--key",
            str(dev_chain / "pass-type-key.pem"),
        ]
    )

    assert result.exit_code == 2
    assert "Give --p12, or --cert and --key, not both." in result.output
    assert _count(PassType) == 0


def test_import_pass_type_needs_a_certificate(runner, merchant, dev_chain):
    result = runner.invoke(
        args=[
            "import-pass-type",
            "owner@venue.test",
            "--wwdr",
            str(dev_chain / "wwdr.pem"),
        ]
    )

    assert result.exit_code == 2
    assert "Give --p12, or --cert and --key." in result.output
    assert _count(PassType) == 0


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_import_pass_type_with_an_expired_certificate(runner, merchant, tmp_path):
    wwdr_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    wwdr_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test WWDR")])
    wwdr = issue_certificate(
        wwdr_name, wwdr_key, wwdr_name, wwdr_key, is_ca=True, days=30
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    expired = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.USER_ID, "pass.test.passline.expired"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TESTTEAM01"),
                ]
            )
        )
        .issuer_name(wwdr_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now - timedelta(days=2))
        .sign(wwdr_key, hashes.SHA256())
    )
    encoding = serialization.Encoding.PEM
    (tmp_path / "cert.pem").write_bytes(expired.public_bytes(encoding))
    (tmp_path / "key.pem").write_bytes(_pem_key(key))
    (tmp_path / "wwdr.pem").write_bytes(wwdr.public_bytes(encoding))

    result = runner.invoke(
        args=[
            "import-pass-type",
            "owner@venue.test",
            "--cert",
            str(tmp_path / "cert.pem"),
            "--key",
            str(tmp_path / "key.pem"),
            "--wwdr",
            str(tmp_path / "wwdr.pem"),
        ]
    )

    assert result.exit_code == 1
    expiry = expired.not_valid_after_utc
    assert f"The certificate expired on {expiry:%Y-%m-%d}" in result.output
    assert _count(PassType) == 0


# import-template


def test_import_template_from_apple_sample(runner, pass_type):
    result = runner.invoke(args=["import-template", PASS_TYPE_ID, str(EVENT)])

    assert result.exit_code == 0, result.output
    template = db.session.scalars(select(Template)).one()
    assert result.output == (
        f"template {template.id} (eventTicket) created: Apple Event Ticket\n"
    )
    assert (template.pass_type_id, template.merchant_id) == (
        pass_type.id,
        pass_type.merchant_id,
    )
    assert (template.style, template.name) == ("eventTicket", "Apple Event Ticket")
    assert "passTypeIdentifier" not in template.design
    assert template.design["barcodes"][0]["format"] == "PKBarcodeFormatPDF417"
    paths = db.session.scalars(
        select(TemplateImage.path).where(TemplateImage.template_id == template.id)
    ).all()
    assert sorted(paths) == [
        "background.png",
        "background@2x.png",
        "icon.png",
        "icon@2x.png",
        "logo.png",
        "logo@2x.png",
        "thumbnail.png",
        "thumbnail@2x.png",
    ]


def test_import_template_for_an_unknown_pass_type(runner, pass_type):
    result = runner.invoke(args=["import-template", "pass.unknown.here", str(EVENT)])

    assert result.exit_code == 1
    assert "Error: No pass type pass.unknown.here is set up here." in result.output
    assert _count(Template) == 0


# list-templates


def test_list_templates(runner, pass_type, template, issued_pass):
    spare = service.create_template(pass_type, "Spare", demo_design())

    result = runner.invoke(args=["list-templates"])

    assert result.exit_code == 0, result.output
    rows = [line.split(None, 4) for line in result.output.splitlines()]
    assert rows == [
        [str(template.id), PASS_TYPE_ID, "eventTicket", "1", "passes  Concert"],
        [str(spare.id), PASS_TYPE_ID, "eventTicket", "0", "passes  Spare"],
    ]


def test_list_templates_when_there_are_none(runner):
    result = runner.invoke(args=["list-templates"])

    assert result.exit_code == 0
    assert result.output.startswith("no templates yet")


# issue-pass


def test_issue_pass_prints_a_working_download_link(
    app, runner, client, template, chain_files, tmp_path
):
    result = runner.invoke(
        args=[
            "issue-pass",
            str(template.id),
            "--set",
            "holder=Ann",
            "--set",
            "seat=A1",
            "--set",
            "gate=3",
        ]
    )

    assert result.exit_code == 0, result.output
    printed = _lines(result)
    pass_ = db.session.scalars(select(Pass)).one()
    assert printed["serial"] == pass_.serial_number
    assert pass_.data == {"holder": "Ann", "seat": "A1", "gate": "3"}
    link = db.session.scalars(select(DownloadLink)).one()
    assert link.passes == [pass_]
    prefix = app.config["PUBLIC_URL"] + "/p/"
    assert prefix == "https://passline.test/p/"
    assert printed["download"] == prefix + link.token

    path = printed["download"].removeprefix(app.config["PUBLIC_URL"])
    response = client.get(f"{path}/pass.pkpass")
    assert response.status_code == 200
    assert response.mimetype == PKPASS_MIME
    files = verify_bundle(response.data, chain_files / "root.pem", tmp_path)
    pass_json = json.loads(files["pass.json"])
    assert pass_json["serialNumber"] == pass_.serial_number
    holder = pass_json["eventTicket"]["secondaryFields"][0]
    assert (holder["key"], holder["value"]) == ("holder", "Ann")


def test_issue_pass_with_json_data_and_a_serial(runner, template):
    data = json.dumps({"holder": "Bea", "seat": "B2", "gate": "1"})
    result = runner.invoke(
        args=[
            "issue-pass",
            str(template.id),
            "--data",
            data,
            "--set",
            "gate=2",
            "--serial",
            "TICKET-0001",
        ]
    )

    assert result.exit_code == 0, result.output
    assert _lines(result)["serial"] == "TICKET-0001"
    pass_ = db.session.scalars(select(Pass)).one()
    assert pass_.serial_number == "TICKET-0001"
    assert pass_.data == {"holder": "Bea", "seat": "B2", "gate": "2"}


def test_issue_pass_with_a_customer_email(runner, template):
    result = runner.invoke(
        args=[
            "issue-pass",
            str(template.id),
            "--data",
            json.dumps({"holder": "Bea", "seat": "B2", "gate": "1"}),
            "--email",
            "Bea.Ortiz@Venue.example",
        ]
    )

    assert result.exit_code == 0, result.output
    pass_ = db.session.scalars(select(Pass)).one()
    assert pass_.customer_email == "bea.ortiz@venue.example"


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("bea@", "There must be something after the @-sign."),
        ("bea@venue.test", "special-use or reserved name"),
    ],
)
def test_issue_pass_refuses_a_malformed_email(runner, template, email, message):
    data = json.dumps({"holder": "Bea", "seat": "B2", "gate": "1"})

    result = runner.invoke(
        args=["issue-pass", str(template.id), "--data", data, "--email", email]
    )

    assert result.exit_code == 2
    assert "Invalid value for '--email'" in result.output
    assert message in result.output
    assert _count(Pass) == 0


def test_issue_pass_refuses_a_taken_serial(runner, issued_pass):
    before = _counts()

    result = runner.invoke(
        args=[
            "issue-pass",
            str(issued_pass.template_id),
            "--data",
            json.dumps({"holder": "Cy", "seat": "C3", "gate": "2"}),
            "--serial",
            issued_pass.serial_number,
        ]
    )

    assert result.exit_code == 1
    assert (
        f"Error: A pass with serial number {issued_pass.serial_number} exists."
        in result.output
    )
    assert _counts() == before
    db.session.expire_all()
    assert issued_pass.data["holder"] == "Ann"


def test_issue_pass_without_a_placeholder_value(runner, template):
    result = runner.invoke(
        args=["issue-pass", str(template.id), "--set", "holder=Ann", "--set", "seat=A1"]
    )

    assert result.exit_code == 1
    assert "Error: no value for the placeholder {{gate}}" in result.output
    assert "Traceback" not in result.output
    assert _count(Pass) == 0
    assert _count(DownloadLink) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "holder"], "'holder' is not KEY=VALUE"),
        (["--data", "{holder"], "not JSON"),
        (["--data", "[1]"], "must be a JSON object"),
    ],
)
def test_issue_pass_refuses_malformed_data(runner, template, args, message):
    result = runner.invoke(args=["issue-pass", str(template.id), *args])

    assert result.exit_code == 2
    assert message in result.output
    assert _count(Pass) == 0


def test_issue_pass_for_an_unknown_template(runner, template):
    result = runner.invoke(args=["issue-pass", str(template.id + 1000)])

    assert result.exit_code == 1
    assert f"Error: No template {template.id + 1000}." in result.output
    assert _count(Pass) == 0


# update-pass


def _register(client, pass_):
    response = client.post(
        f"/passkit/v1/devices/{'d' * 32}/registrations/"
        f"{PASS_TYPE_ID}/{pass_.serial_number}",
        json={"pushToken": PUSH_TOKEN},
        headers={"Authorization": f"ApplePass {pass_.authentication_token}"},
    )
    assert response.status_code == 201


def test_update_pass_changes_data_and_pushes(runner, client, apns, issued_pass):
    _register(client, issued_pass)
    tag = issued_pass.update_tag
    serial = issued_pass.serial_number

    result = runner.invoke(
        args=["update-pass", PASS_TYPE_ID, serial, "--set", "gate=9"]
    )

    assert result.exit_code == 0, result.output
    assert result.output == f"pass {serial} updated; pushing to its devices\n"
    db.session.expire_all()
    assert issued_pass.data == {"holder": "Ann", "seat": "A1", "gate": "9"}
    assert issued_pass.update_tag > tag
    (push,) = apns.wait_for(1)
    assert push.token == PUSH_TOKEN
    assert push.headers["apns-topic"] == PASS_TYPE_ID
    (attempt,) = db.session.scalars(select(PushAttempt)).all()
    assert (attempt.outcome, attempt.status_code) == ("sent", 200)


def test_update_pass_can_void(runner, issued_pass):
    result = runner.invoke(
        args=["update-pass", PASS_TYPE_ID, issued_pass.serial_number, "--void"]
    )

    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert issued_pass.is_voided
    assert issued_pass.data == {"holder": "Ann", "seat": "A1", "gate": "3"}


def test_update_pass_with_incomplete_data_changes_nothing(
    runner, client, apns, issued_pass
):
    _register(client, issued_pass)
    tag = issued_pass.update_tag

    result = runner.invoke(
        args=[
            "update-pass",
            PASS_TYPE_ID,
            issued_pass.serial_number,
            "--data",
            json.dumps({"holder": "Zed"}),
        ]
    )

    assert result.exit_code == 1
    assert "no value for the placeholder" in result.output
    db.session.expire_all()
    assert issued_pass.data == {"holder": "Ann", "seat": "A1", "gate": "3"}
    assert issued_pass.update_tag == tag
    assert apns.requests == []


def test_update_pass_for_an_unknown_serial(runner, issued_pass):
    result = runner.invoke(args=["update-pass", PASS_TYPE_ID, "nope", "--set", "a=b"])

    assert result.exit_code == 1
    assert f"Error: No pass nope of {PASS_TYPE_ID}." in result.output


# demo


def test_demo_seeds_once(app, runner, client, tmp_path):
    first = runner.invoke(args=["demo"])

    assert first.exit_code == 0, first.output
    assert "demo merchant created" in first.output
    assert "demo login: demo@passline.test / passline-demo" in first.output
    assert "not installable on a real iPhone" in first.output
    url = _lines(first)["demo pass"]
    link = db.session.scalars(select(DownloadLink)).one()
    assert url == f"https://passline.test/p/{link.token}"
    counts = _counts()
    assert counts == {
        "Merchant": 1,
        "User": 1,
        "PassType": 1,
        "Template": 1,
        "Pass": 1,
        "DownloadLink": 1,
    }

    second = runner.invoke(args=["demo"])

    assert second.exit_code == 0, second.output
    assert "demo merchant created" not in second.output
    assert "demo login: demo@passline.test / passline-demo" in second.output
    assert _lines(second)["demo pass"] == url
    assert _counts() == counts

    response = client.get(url.removeprefix("https://passline.test") + "/pass.pkpass")
    assert response.status_code == 200
    assert response.mimetype == PKPASS_MIME
    root = Path(app.instance_path) / "dev-chain" / "root.pem"
    files = verify_bundle(response.data, root, tmp_path)
    assert json.loads(files["pass.json"])["passTypeIdentifier"] == (
        "pass.dev.passline.demo"
    )


# help


@pytest.mark.parametrize(
    ("command", "summary"),
    [
        ("dev-chain", "Make a development signing chain"),
        ("create-merchant", "Create a merchant NAME"),
        ("import-pass-type", "Add a Pass Type ID certificate"),
        ("import-template", "Make a template of PASS_TYPE_ID"),
        ("list-templates", "List every template"),
        ("issue-pass", "Issue a pass of TEMPLATE_ID"),
        ("update-pass", "Change a pass's data"),
        ("demo", "Seed a demo merchant"),
    ],
)
def test_help(runner, command, summary):
    result = runner.invoke(args=[command, "--help"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
    assert f" {command} " in result.output.splitlines()[0]
    assert summary in result.output
    assert "--help" in result.output

    listing = runner.invoke(args=["--help"])
    assert listing.exit_code == 0
    assert command in listing.output
