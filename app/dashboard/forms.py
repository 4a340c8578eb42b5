"""Dashboard forms: a bare button any area uses, and adding a pass type certificate."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import PasswordField
from wtforms.validators import Length, Optional

# Certificates and keys are a few kilobytes; a .p12 with a long chain stays
# well under this, so anything bigger is the wrong file.
MAX_CERTIFICATE_FILE = 256 * 1024


class ButtonForm(FlaskForm):
    """A form that is only a button (void, revoke): it carries the CSRF token."""


class PassTypeForm(FlaskForm):
    """A .p12, or a PEM certificate and key, plus the WWDR that issued it."""

    p12 = FileField("Certificate and key (.p12)", render_kw={"accept": ".p12,.pfx"})
    p12_password = PasswordField(".p12 password", [Optional(), Length(max=1000)])
    certificate = FileField(
        "Certificate (PEM or DER)", render_kw={"accept": ".pem,.cer,.crt,.der"}
    )
    private_key = FileField("Private key (PEM)", render_kw={"accept": ".pem,.key"})
    key_password = PasswordField(
        "Private key password, if it has one", [Optional(), Length(max=1000)]
    )
    wwdr = FileField(
        "Apple WWDR intermediate certificate (PEM or DER)",
        render_kw={"accept": ".pem,.cer,.crt,.der"},
    )

    def validate(self, extra_validators=None) -> bool:
        """Check that one complete way was chosen and every file has content."""
        if not super().validate(extra_validators):
            return False

        # Which files were sent, before an empty one is dropped by _read.
        uses_p12 = self.p12.data is not None
        sent_certificate = self.certificate.data is not None
        sent_key = self.private_key.data is not None
        uses_pem = sent_certificate or sent_key
        for item in (self.p12, self.certificate, self.private_key, self.wwdr):
            self._read(item)

        if uses_p12 and uses_pem:
            self.p12.errors.append(
                "Upload either a .p12 or a PEM certificate and key, not both."
            )
        elif not uses_p12 and not uses_pem:
            self.p12.errors.append(
                "Upload a .p12 with its password, or a PEM certificate and its key."
            )
        elif uses_pem and not sent_certificate:
            self.certificate.errors.append("Upload the certificate for this key.")
        elif uses_pem and not sent_key:
            self.private_key.errors.append("Upload the certificate's private key.")
        if self.wwdr.data is None and not self.wwdr.errors:
            self.wwdr.errors.append(
                "Upload the Apple WWDR certificate that issued yours."
            )
        return not self.errors

    @staticmethod
    def _read(item: FileField) -> None:
        """Replace the upload by its bytes, or by None with an error."""
        if item.data is None:
            return
        content = item.data.read(MAX_CERTIFICATE_FILE + 1)
        if not content:
            item.errors.append("That file is empty.")
            item.data = None
        elif len(content) > MAX_CERTIFICATE_FILE:
            item.errors.append(
                "That file is too large for a certificate or key "
                f"(the limit is {MAX_CERTIFICATE_FILE // 1024} KB)."
            )
            item.data = None
        else:
            item.data = content
