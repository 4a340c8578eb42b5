"""The manifest and the detached PKCS#7 signature of a .pkpass bundle."""

import hashlib
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from app.certificates import SigningIdentity


def build_manifest(files: dict[str, bytes]) -> bytes:
    """Map each file's path to the lowercase hex SHA-1 of its bytes, as JSON."""
    digests = {
        path: hashlib.sha1(content, usedforsecurity=False).hexdigest()
        for path, content in files.items()
    }
    return json.dumps(digests, sort_keys=True, indent=2).encode()


def sign_manifest(manifest: bytes, identity: SigningIdentity) -> bytes:
    """Sign the manifest: detached DER PKCS#7, SHA-256, signer and WWDR included.

    The `Binary` option keeps the bytes as they are; without it line endings
    would be rewritten before hashing and Wallet would reject the signature.
    The signed attributes carry the signingTime Wallet expects.
    """
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(identity.certificate, identity.private_key, hashes.SHA256())
        .add_certificate(identity.wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )
