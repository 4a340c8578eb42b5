"""Independent checks of a .pkpass: openssl for the signature, hashes by hand."""

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path


class BundleInvalid(AssertionError):
    pass


def unzip(bundle: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def openssl_verify(manifest: bytes, signature: bytes, root: Path, folder: Path) -> None:
    """Run `openssl smime -verify -binary`; raise BundleInvalid if it fails."""
    (folder / "manifest.json").write_bytes(manifest)
    (folder / "signature").write_bytes(signature)
    result = subprocess.run(
        [
            "openssl",
            "smime",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(folder / "signature"),
            "-content",
            str(folder / "manifest.json"),
            "-CAfile",
            str(root),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BundleInvalid(f"openssl refused the signature: {result.stderr}")


def verify_bundle(bundle: bytes, root: Path, folder: Path) -> dict[str, bytes]:
    """Check signature, manifest hashes and that no file is outside the manifest."""
    files = unzip(bundle)
    openssl_verify(files["manifest.json"], files["signature"], root, folder)
    manifest = json.loads(files["manifest.json"])
    listed = set(manifest)
    present = set(files) - {"manifest.json", "signature"}
    if listed != present:
        raise BundleInvalid(f"manifest lists {sorted(listed ^ present)} wrongly")
    for path, digest in manifest.items():
        if hashlib.sha1(files[path], usedforsecurity=False).hexdigest() != digest:
            raise BundleInvalid(f"{path} does not match its manifest digest")
    return files


def signed_attributes(signature: bytes, folder: Path) -> str:
    """Return openssl's printout of the signature's CMS structure."""
    (folder / "signature.der").write_bytes(signature)
    return subprocess.run(
        [
            "openssl",
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            str(folder / "signature.der"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
