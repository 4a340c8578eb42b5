"""Signed .pkpass bundles, checked with openssl, and the certificates behind them."""

import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select, text

from app.certificates import (
    CertificateError,
    build_identity,
    load_certificate,
    load_identity,
    load_p12,
    load_pem_key,
    read_identity,
)
from app.devchain import issue_certificate, make_development_chain
from app.extensions import db
from app.models import Pass, SignedBundle
from app.passes import bundle, service
from app.passes.bundle import PassDataError
from app.passes.signing import sign_manifest
from app.passes.strings import parse_strings
from app.passes.validation import PassValidationError
from tests.bundle_check import (
    BundleInvalid,
    openssl_verify,
    signed_attributes,
    unzip,
    verify_bundle,
)
from tests.conftest import KEY_ENCRYPTION_KEY, PASS_TYPE_ID, TEAM_ID

PASS_DATA = {"holder": "Ann", "seat": "A1", "gate": "3"}
DEMO_IMAGES = {
    f"{name}{suffix}.png" for name in ("icon", "logo") for suffix in ("", "@2x", "@3x")
}


@pytest.fixture(scope="module")
def other_chain():
    """A second development chain, to mix pieces that do not belong together."""
    return make_development_chain(PASS_TYPE_ID, TEAM_ID)


@pytest.fixture(scope="module")
def identity(chain):
    return build_identity(
        load_certificate(chain.certificate_pem),
        load_pem_key(chain.key_pem),
        load_certificate(chain.wwdr_pem),
    )


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return buffer.getvalue()


def _signer_info(printout: str) -> str:
    return printout.split("signerInfos:", 1)[1]


def _message_digest(printout: str) -> bytes:
    """Read the messageDigest signed attribute from openssl's CMS printout."""
    block = _signer_info(printout).split("object: messageDigest", 1)[1]
    block = block.split("object:", 1)[0]
    rows = re.findall(r"^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -])+)", block, re.M)
    return bytes.fromhex("".join(rows).replace("-", " "))


# The bundle and its signature


def test_issued_pass_verifies_with_openssl(template, chain_files, tmp_path):
    pass_ = service.issue_pass(template, PASS_DATA, serial_number="TKT-0001")

    files = verify_bundle(
        service.signed_bundle(pass_), chain_files / "root.pem", tmp_path
    )

    pass_json = json.loads(files["pass.json"])
    assert pass_json["serialNumber"] == "TKT-0001"
    assert pass_json["passTypeIdentifier"] == PASS_TYPE_ID
    assert pass_json["teamIdentifier"] == TEAM_ID
    assert pass_json["authenticationToken"] == pass_.authentication_token
    holder = pass_json["eventTicket"]["secondaryFields"][0]
    assert holder == {"key": "holder", "label": "TICKET HOLDER", "value": "Ann"}


def test_signature_does_not_verify_against_another_root(
    issued_pass, other_chain, tmp_path
):
    other_root = tmp_path / "other-root.pem"
    other_root.write_bytes(other_chain.root_pem)

    with pytest.raises(BundleInvalid, match="openssl refused"):
        verify_bundle(service.signed_bundle(issued_pass), other_root, tmp_path)


def test_bundle_holds_only_wallet_files(issued_pass, template):
    files = unzip(service.signed_bundle(issued_pass))

    assert set(files) == {
        "pass.json",
        "manifest.json",
        "signature",
        "fr.lproj/pass.strings",
        *DEMO_IMAGES,
    }
    for image in template.images:
        assert files[image.path] == image.content
    assert parse_strings(files["fr.lproj/pass.strings"])["GATE"] == "PORTE"


def test_manifest_lists_every_other_file_with_sha1(issued_pass):
    files = unzip(service.signed_bundle(issued_pass))

    manifest = json.loads(files["manifest.json"])

    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for path, digest in manifest.items():
        assert re.fullmatch(r"[0-9a-f]{40}", digest), path
        assert digest == hashlib.sha1(files[path], usedforsecurity=False).hexdigest()


def test_reformatted_manifest_verifies_only_with_its_own_signature(
    issued_pass, identity, chain_files, tmp_path
):
    files = unzip(service.signed_bundle(issued_pass))
    reindented = json.dumps(json.loads(files["manifest.json"]), indent=4).encode()
    assert reindented != files["manifest.json"]

    signature = sign_manifest(reindented, identity)

    openssl_verify(reindented, signature, chain_files / "root.pem", tmp_path)
    # The signature covers exact bytes: the same JSON laid out otherwise fails.
    with pytest.raises(BundleInvalid, match="openssl refused"):
        openssl_verify(
            files["manifest.json"], signature, chain_files / "root.pem", tmp_path
        )
    with pytest.raises(BundleInvalid, match="openssl refused"):
        openssl_verify(
            reindented, files["signature"], chain_files / "root.pem", tmp_path
        )


def test_manifest_line_endings_are_signed_as_they_are(identity, chain_files, tmp_path):
    # Mixed endings: without the Binary option the bare "\n" would be turned
    # into "\r\n" before hashing, and the digest would not match these bytes.
    manifest = b'{\r\n  "icon.png": "%s",\n  "pass.json": "%s"\r\n}\n' % (
        b"a" * 40,
        b"b" * 40,
    )

    signature = sign_manifest(manifest, identity)

    openssl_verify(manifest, signature, chain_files / "root.pem", tmp_path)
    printout = signed_attributes(signature, tmp_path)
    assert _message_digest(printout) == hashlib.sha256(manifest).digest()


def test_signature_carries_signing_time_sha256_and_wwdr(issued_pass, chain, tmp_path):
    files = unzip(service.signed_bundle(issued_pass))

    printout = signed_attributes(files["signature"], tmp_path)

    signer = _signer_info(printout)
    assert re.search(r"digestAlgorithm:\s*\n\s*algorithm: sha256 ", signer)
    signing_time = re.search(
        r"object: signingTime \(1\.2\.840\.113549\.1\.9\.5\)\s*\n\s*set:\s*\n"
        r"\s*UTCTIME:(.+ GMT)",
        signer,
    )
    assert signing_time, "no signingTime among the signed attributes"
    signed_at = datetime.strptime(signing_time.group(1), "%b %d %H:%M:%S %Y GMT")
    assert abs(signed_at.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5)
    manifest_digest = hashlib.sha256(files["manifest.json"]).digest()
    assert _message_digest(printout) == manifest_digest

    carried = pkcs7.load_der_pkcs7_certificates(files["signature"])
    assert load_certificate(chain.wwdr_pem) in carried
    assert load_certificate(chain.certificate_pem) in carried
    assert "subject: OU=G4, CN=Passline Dev WWDR (not Apple)" in printout


def _altered(files: dict[str, bytes], change: str) -> dict[str, bytes]:
    files = dict(files)
    if change == "pass.json":
        files["pass.json"] = files["pass.json"].replace(b'"Ann"', b'"Bob"')
    elif change == "image":
        files["icon.png"] = files["icon.png"] + b"\x00"
    elif change == "manifest":
        files["manifest.json"] = files["manifest.json"].replace(b"\n", b"\n ", 1)
    elif change == "added file":
        files["thumbnail.png"] = files["icon.png"]
    elif change == "removed file":
        del files["logo@3x.png"]
    return files


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("pass.json", "pass.json does not match its manifest digest"),
        ("image", "icon.png does not match its manifest digest"),
        ("manifest", "openssl refused the signature"),
        ("added file", "manifest lists ['thumbnail.png'] wrongly"),
        ("removed file", "manifest lists ['logo@3x.png'] wrongly"),
    ],
)
def test_tampering_is_caught(issued_pass, chain_files, tmp_path, change, reason):
    files = unzip(service.signed_bundle(issued_pass))
    tampered = _altered(files, change)
    assert tampered != files

    with pytest.raises(BundleInvalid) as caught:
        verify_bundle(_zip(tampered), chain_files / "root.pem", tmp_path)

    assert reason in str(caught.value)


def test_altered_manifest_is_refused_by_openssl_alone(
    issued_pass, chain_files, tmp_path
):
    files = unzip(service.signed_bundle(issued_pass))
    manifest = json.loads(files["manifest.json"])
    manifest["icon.png"] = hashlib.sha1(
        b"other icon", usedforsecurity=False
    ).hexdigest()

    with pytest.raises(BundleInvalid, match="openssl refused"):
        openssl_verify(
            json.dumps(manifest, sort_keys=True, indent=2).encode(),
            files["signature"],
            chain_files / "root.pem",
            tmp_path,
        )


# Signing once per content version


def _stored_bundles() -> list[SignedBundle]:
    db.session.expire_all()
    return db.session.scalars(select(SignedBundle)).all()


def test_bundle_is_signed_once_per_content_version(
    issued_pass, chain_files, tmp_path, monkeypatch
):
    signings = []

    def counting_sign(manifest, identity):
        signings.append(manifest)
        return sign_manifest(manifest, identity)

    monkeypatch.setattr(bundle, "sign_manifest", counting_sign)

    first = service.signed_bundle(issued_pass)
    [stored] = _stored_bundles()
    first_signed_at = stored.signed_at
    again = service.signed_bundle(issued_pass)

    assert again == first
    assert len(signings) == 1
    [stored] = _stored_bundles()
    assert stored.signed_at == first_signed_at
    assert stored.update_tag == issued_pass.update_tag
    assert stored.content == first

    service.update_pass(issued_pass, {**PASS_DATA, "gate": "7"})
    updated = service.signed_bundle(issued_pass)

    assert updated != first
    assert len(signings) == 2
    [stored] = _stored_bundles()
    assert stored.update_tag == issued_pass.update_tag
    assert stored.signed_at > first_signed_at
    assert stored.content == updated
    assert db.session.scalar(select(func.count()).select_from(SignedBundle)) == 1
    files = verify_bundle(updated, chain_files / "root.pem", tmp_path)
    assert unzip(first)["signature"] != files["signature"]
    gate = json.loads(files["pass.json"])["eventTicket"]["auxiliaryFields"][0]
    assert gate["value"] == "7"


# Certificate checks


def test_wwdr_that_did_not_issue_the_certificate_is_refused(chain, other_chain):
    with pytest.raises(CertificateError, match="WWDR") as caught:
        build_identity(
            load_certificate(chain.certificate_pem),
            load_pem_key(chain.key_pem),
            load_certificate(other_chain.wwdr_pem),
        )

    assert "did not issue this certificate" in str(caught.value)


def test_expired_certificate_is_refused(chain):
    far_future = datetime(2100, 1, 1, tzinfo=UTC)

    with pytest.raises(CertificateError, match="expired"):
        build_identity(
            load_certificate(chain.certificate_pem),
            load_pem_key(chain.key_pem),
            load_certificate(chain.wwdr_pem),
            now=far_future,
        )


def test_certificate_not_valid_yet_is_refused(chain):
    with pytest.raises(CertificateError, match="not valid yet"):
        build_identity(
            load_certificate(chain.certificate_pem),
            load_pem_key(chain.key_pem),
            load_certificate(chain.wwdr_pem),
            now=datetime(2000, 1, 1, tzinfo=UTC),
        )


def test_expired_wwdr_is_refused():
    root_key, wwdr_key, pass_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
    )
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])
    wwdr_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Short WWDR")])
    pass_name = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, PASS_TYPE_ID),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, TEAM_ID),
        ]
    )
    wwdr = issue_certificate(
        wwdr_name, wwdr_key, root_name, root_key, is_ca=True, days=1
    )
    certificate = issue_certificate(
        pass_name, pass_key, wwdr_name, wwdr_key, is_ca=False, days=30
    )

    with pytest.raises(CertificateError, match=r"The WWDR certificate has expired"):
        build_identity(
            certificate, pass_key, wwdr, now=datetime.now(UTC) + timedelta(days=5)
        )


def test_key_of_another_certificate_is_refused(chain, other_chain):
    with pytest.raises(CertificateError, match="does not belong"):
        build_identity(
            load_certificate(chain.certificate_pem),
            load_pem_key(other_chain.key_pem),
            load_certificate(chain.wwdr_pem),
        )


def test_matching_pieces_make_an_identity(chain):
    identity = build_identity(
        load_certificate(chain.certificate_pem),
        load_pem_key(chain.key_pem),
        load_certificate(chain.wwdr_pem),
    )

    assert identity.pass_type_identifier == PASS_TYPE_ID
    assert identity.team_identifier == TEAM_ID
    assert identity.certificate_pem() == chain.certificate_pem
    assert identity.wwdr_pem() == chain.wwdr_pem


def test_read_identity_gives_uid_and_ou(chain):
    certificate = load_certificate(chain.certificate_pem)

    assert read_identity(certificate) == (PASS_TYPE_ID, TEAM_ID)
    with pytest.raises(CertificateError, match="not a Pass Type ID certificate"):
        read_identity(load_certificate(chain.wwdr_pem))


def _p12(chain, key=True, certificate=True, password=b"open sesame") -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"Pass Type ID",
        load_pem_key(chain.key_pem) if key else None,
        load_certificate(chain.certificate_pem) if certificate else None,
        None,
        serialization.BestAvailableEncryption(password),
    )


def test_correct_p12_loads(chain):
    certificate, key = load_p12(_p12(chain), "open sesame")

    assert certificate == load_certificate(chain.certificate_pem)
    assert key.public_key() == load_pem_key(chain.key_pem).public_key()


def test_bad_p12_files_each_say_what_is_wrong(chain):
    messages = {}
    for case, data, password in [
        ("wrong password", _p12(chain), "open barley"),
        ("no key", _p12(chain, key=False), "open sesame"),
        ("no certificate", _p12(chain, certificate=False), "open sesame"),
    ]:
        with pytest.raises(CertificateError) as caught:
            load_p12(data, password)
        messages[case] = str(caught.value)

    assert "the password is wrong" in messages["wrong password"]
    assert "holds no private key" in messages["no key"]
    assert "holds no certificate" in messages["no certificate"]
    assert len(set(messages.values())) == 3


# The key at rest


def test_private_key_is_stored_encrypted(pass_type, chain):
    stored = db.session.execute(
        text("SELECT private_key_encrypted FROM pass_types WHERE id = :id"),
        {"id": pass_type.id},
    ).scalar_one()
    stored = bytes(stored)
    key_body = b"".join(chain.key_pem.splitlines()[1:-1])

    assert b"PRIVATE KEY" not in stored
    assert chain.key_pem not in stored
    assert key_body[:64] not in stored
    assert Fernet(KEY_ENCRYPTION_KEY.encode()).decrypt(stored) == chain.key_pem
    identity = service.signing_identity(pass_type)
    assert identity.private_key.public_key() == (
        load_pem_key(chain.key_pem).public_key()
    )


def test_another_key_encryption_key_cannot_decrypt(app, pass_type):
    other = Fernet.generate_key().decode()

    with pytest.raises(CertificateError, match="KEY_ENCRYPTION_KEY cannot decrypt"):
        load_identity(
            pass_type.certificate_pem,
            pass_type.private_key_encrypted,
            pass_type.wwdr_certificate_pem,
            other,
        )
    app.config["KEY_ENCRYPTION_KEY"] = other
    with pytest.raises(CertificateError, match="KEY_ENCRYPTION_KEY cannot decrypt"):
        service.signing_identity(pass_type)


@pytest.mark.parametrize("serial", ["a/b", "x" * 65, "spaced serial", "ünï"])
def test_unusable_serial_numbers_are_refused(template, serial):
    with pytest.raises(PassDataError, match="A serial number is 1 to 64"):
        service.issue_pass(template, {"holder": "A", "seat": "1", "gate": "2"}, serial)

    assert db.session.scalar(select(func.count(Pass.id))) == 0


def test_data_that_would_break_the_pass_is_refused_before_storing(issued_pass):
    original = dict(issued_pass.data)

    with pytest.raises(PassValidationError, match="field 'holder' needs a value"):
        service.update_pass(issued_pass, {**original, "holder": {"a": 1}})

    db.session.expire_all()
    assert issued_pass.data == original
    with pytest.raises(PassValidationError):
        service.issue_pass(issued_pass.template, {**original, "holder": ["x"]})
    assert db.session.scalar(select(func.count(Pass.id))) == 1


@pytest.mark.parametrize(
    ("holder", "problem"),
    [
        ("", "The barcode has no message to encode."),
        ("李雷", "characters iso-8859-1 cannot hold: '李雷'"),
    ],
)
def test_data_that_makes_an_unscannable_barcode_is_refused(
    template, issued_pass, holder, problem
):
    design = dict(template.design)
    design["barcodes"] = [
        {**design["barcodes"][0], "message": "{{holder}}", "altText": "{{seat}}"}
    ]
    template.design = design
    db.session.commit()
    data = {"holder": holder, "seat": "A1", "gate": "3"}

    with pytest.raises(PassValidationError, match=re.escape(problem)):
        service.issue_pass(template, data)
    with pytest.raises(PassValidationError, match=re.escape(problem)):
        service.update_pass(issued_pass, data)

    db.session.expire_all()
    assert db.session.scalar(select(func.count(Pass.id))) == 1
    assert issued_pass.data["holder"] == "Ann"
    # Voiding keeps the data as it is and is not refused for it.
    service.update_pass(issued_pass, is_voided=True, push=False)
    assert issued_pass.is_voided is True
