"""A development signing chain: a root, a WWDR-like intermediate, a pass cert.

Passes signed with it verify against its own root but are NOT installable on a
real iPhone: Wallet only trusts certificates issued by Apple's WWDR.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from app.certificates import (
    SigningIdentity,
    build_identity,
    load_certificate,
    load_pem_key,
    private_key_pem,
)

NOT_FOR_DEVICES = "Passline development (not installable on a real iPhone)"


@dataclass(frozen=True)
class DevelopmentChain:
    root_pem: bytes
    wwdr_pem: bytes
    certificate_pem: bytes
    key_pem: bytes

    def identity(self) -> SigningIdentity:
        """Return the pass type certificate, its key and the WWDR, checked."""
        return build_identity(
            load_certificate(self.certificate_pem),
            load_pem_key(self.key_pem),
            load_certificate(self.wwdr_pem),
        )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def issue_certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    is_ca: bool,
    days: int,
    extended_usage: list[x509.ObjectIdentifier] | None = None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    """Issue one X.509 certificate (SHA-256, RSA) valid from an hour ago."""
    now = datetime.now(UTC) - timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if extended_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(extended_usage), critical=False
        )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(san), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_development_chain(
    pass_type_identifier: str,
    team_identifier: str,
    organization: str = "Passline Demo",
    days: int = 825,
) -> DevelopmentChain:
    """Make a root, a WWDR-like intermediate and a Pass Type ID certificate."""
    root_key, wwdr_key, pass_key = _key(), _key(), _key()
    root_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "Passline Dev Root")]
    )
    wwdr_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "G4"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Passline Dev WWDR (not Apple)"),
        ]
    )
    pass_name = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, pass_type_identifier),
            x509.NameAttribute(
                NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_identifier}"
            ),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_identifier),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )
    root = issue_certificate(
        root_name, root_key, root_name, root_key, is_ca=True, days=days + 30
    )
    wwdr = issue_certificate(
        wwdr_name, wwdr_key, root_name, root_key, is_ca=True, days=days + 15
    )
    certificate = issue_certificate(
        pass_name,
        pass_key,
        wwdr_name,
        wwdr_key,
        is_ca=False,
        days=days,
        extended_usage=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )
    encoding = serialization.Encoding.PEM
    return DevelopmentChain(
        root_pem=root.public_bytes(encoding),
        wwdr_pem=wwdr.public_bytes(encoding),
        certificate_pem=certificate.public_bytes(encoding),
        key_pem=private_key_pem(pass_key),
    )
