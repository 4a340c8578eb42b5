"""Pass Type ID certificates: loading, checking and keeping the key encrypted."""

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class CertificateError(ValueError):
    """A certificate, key or chain that cannot be used to sign passes."""


@dataclass(frozen=True)
class SigningIdentity:
    """What signing a pass needs: the certificate, its key and the WWDR."""

    certificate: x509.Certificate
    private_key: PrivateKey
    wwdr: x509.Certificate

    @property
    def pass_type_identifier(self) -> str:
        """Return the pass type identifier, read from the certificate's UID."""
        return read_identity(self.certificate)[0]

    @property
    def team_identifier(self) -> str:
        """Return the team identifier, read from the certificate's OU."""
        return read_identity(self.certificate)[1]

    @property
    def expires_at(self) -> datetime:
        """Return when the certificate expires, in naive UTC like the database."""
        return self.certificate.not_valid_after_utc.replace(tzinfo=None)

    def certificate_pem(self) -> bytes:
        """Return the pass type certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def wwdr_pem(self) -> bytes:
        """Return Apple's WWDR intermediate certificate as PEM."""
        return self.wwdr.public_bytes(serialization.Encoding.PEM)

    def private_key_pem(self) -> bytes:
        """Return the key as unencrypted PKCS#8 PEM, for signing or TLS only."""
        return private_key_pem(self.private_key)


def private_key_pem(private_key: PrivateKey) -> bytes:
    """Serialize a key as unencrypted PKCS#8 PEM, for Fernet or a TLS context."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_p12(data: bytes, password: str | None) -> tuple[x509.Certificate, PrivateKey]:
    """Read the certificate and key from a PKCS#12 file.

    Raises CertificateError for a wrong password, a legacy encryption the
    crypto library refuses, or a file without a private key.
    """
    secret = password.encode() if password else None
    try:
        key, certificate, _ = pkcs12.load_key_and_certificates(data, secret)
    except ValueError as exc:
        text = str(exc).lower()
        if "unsupported" in text or "algorithm" in text:
            raise CertificateError(
                "This .p12 uses a legacy encryption (RC2/3DES): export it again "
                "with AES, or run `openssl pkcs12 -legacy` to convert it."
            ) from exc
        raise CertificateError(
            "Could not open the .p12: the password is wrong or the file is damaged."
        ) from exc
    # The key first: without one, the library files the certificate among the
    # extra certificates, and "no certificate" would send the merchant astray.
    if key is None:
        raise CertificateError(
            "The .p12 holds no private key: export the certificate together "
            "with its key from Keychain Access."
        )
    if certificate is None:
        raise CertificateError("The .p12 holds no certificate.")
    return certificate, _checked_key_type(key)


def load_certificate(data: bytes) -> x509.Certificate:
    """Read one certificate from PEM or DER bytes; raises CertificateError."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError("That file is not a PEM or DER certificate.") from exc


def load_pem_key(data: bytes, password: str | None = None) -> PrivateKey:
    """Read a private key from PEM bytes, decrypting it with the password.

    Raises CertificateError for a wrong or missing password, or bytes that are
    not an RSA or EC key.
    """
    try:
        key = serialization.load_pem_private_key(
            data, password.encode() if password else None
        )
    except TypeError as exc:
        raise CertificateError(
            "The private key is encrypted: give its password, or it is not."
        ) from exc
    except ValueError as exc:
        raise CertificateError(
            "Could not read the private key: wrong password or not a PEM key."
        ) from exc
    return _checked_key_type(key)


def _checked_key_type(key) -> PrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateError("Only RSA and EC keys can sign passes.")
    return key


def read_identity(certificate: x509.Certificate) -> tuple[str, str]:
    """Return (pass type identifier, team identifier) from the subject's UID and OU."""
    subject = certificate.subject
    uids = subject.get_attributes_for_oid(NameOID.USER_ID)
    teams = subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if not uids or not str(uids[0].value).startswith("pass."):
        raise CertificateError(
            "This is not a Pass Type ID certificate: its subject has no UID "
            "starting with 'pass.'."
        )
    if not teams:
        raise CertificateError("The certificate's subject has no OU (team id).")
    return str(uids[0].value), str(teams[0].value)


def build_identity(
    certificate: x509.Certificate,
    private_key: PrivateKey,
    wwdr: x509.Certificate,
    now: datetime | None = None,
) -> SigningIdentity:
    """Check the pieces fit together and return them as a signing identity.

    Raises CertificateError when the certificate is not a Pass Type ID one,
    has expired or is not yet valid, does not match the key, or was not
    issued by the given WWDR certificate.
    """
    read_identity(certificate)
    now = now or datetime.now(UTC)
    if certificate.not_valid_after_utc <= now:
        raise CertificateError(
            f"The certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}: "
            "create a new one in the Apple Developer portal."
        )
    if certificate.not_valid_before_utc > now:
        raise CertificateError("The certificate is not valid yet.")
    if certificate.public_key() != private_key.public_key():
        raise CertificateError("The private key does not belong to this certificate.")
    try:
        certificate.verify_directly_issued_by(wwdr)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise CertificateError(
            "The WWDR certificate did not issue this certificate (it was issued by "
            f"{certificate.issuer.rfc4514_string()}): download the matching Apple "
            "WWDR intermediate (G4 for certificates made since 2022)."
        ) from exc
    if wwdr.not_valid_after_utc <= now:
        raise CertificateError("The WWDR certificate has expired.")
    return SigningIdentity(certificate, private_key, wwdr)


def encrypt_private_key(private_key: PrivateKey, key_encryption_key: str) -> bytes:
    """Encrypt the key's PKCS#8 PEM with Fernet (AES-128-CBC + HMAC-SHA256).

    Raises ValueError if key_encryption_key is not a Fernet key.
    """
    pem = private_key_pem(private_key)
    return Fernet(key_encryption_key.encode()).encrypt(pem)


@functools.lru_cache(maxsize=256)
def load_identity(
    certificate_pem: bytes,
    private_key_encrypted: bytes,
    wwdr_pem: bytes,
    key_encryption_key: str,
) -> SigningIdentity:
    """Decrypt a stored identity (Fernet); cached, as loading a key costs ms.

    Raises CertificateError when KEY_ENCRYPTION_KEY cannot decrypt the key.
    """
    try:
        pem = Fernet(key_encryption_key.encode()).decrypt(private_key_encrypted)
    except InvalidToken as exc:
        raise CertificateError(
            "KEY_ENCRYPTION_KEY cannot decrypt this pass type's private key."
        ) from exc
    return SigningIdentity(
        x509.load_pem_x509_certificate(certificate_pem),
        load_pem_key(pem),
        x509.load_pem_x509_certificate(wwdr_pem),
    )
