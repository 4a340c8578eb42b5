"""Pass type pages: adding a certificate, its details and push checks."""

import logging
from collections import Counter
from datetime import UTC, datetime

from cryptography import x509
from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from wtforms import Field

from app.certificates import (
    CertificateError,
    PrivateKey,
    SigningIdentity,
    build_identity,
    load_certificate,
    load_p12,
    load_pem_key,
    read_identity,
)
from app.dashboard import bp, summaries
from app.dashboard.formatting import token_hint
from app.dashboard.forms import PassTypeForm
from app.extensions import db
from app.models import Pass, PassType, PushAttempt, Registration
from app.passes.service import PassTypeTaken, create_pass_type
from app.push import service as push

log = logging.getLogger(__name__)


@bp.route("/pass-types/new", methods=["GET", "POST"])
def new_pass_type():
    """Add a pass type from an uploaded certificate, its key and the WWDR."""
    form = PassTypeForm()
    identity = _identity_from(form) if form.validate_on_submit() else None

    if identity is not None:
        try:
            added = create_pass_type(
                current_user.merchant, identity, actor=f"user:{current_user.id}"
            )
        except PassTypeTaken:
            _certificate_field(form).errors.append(_taken(identity))
        except IntegrityError:
            # Another upload of the same certificate committed first.
            db.session.rollback()
            _certificate_field(form).errors.append(_taken(identity))
        else:
            flash(
                f"Pass type {added.pass_type_identifier} added; its certificate "
                f"is valid until {added.certificate_expires_at:%Y-%m-%d}."
            )
            return redirect(url_for("dashboard.pass_type", pass_type_id=added.id))

    return render_template("dashboard/pass_types/new.html", form=form)


def _taken(identity: SigningIdentity) -> str:
    """Say whose account already holds the pass type id, without naming another."""
    identifier = identity.pass_type_identifier
    owner = db.session.scalar(
        select(PassType.merchant_id).filter_by(pass_type_identifier=identifier)
    )
    if owner == current_user.merchant_id:
        return f"You have already added the pass type {identifier}."
    return (
        f"The pass type {identifier} is registered to another account on this "
        "server, and a pass type id belongs to one account. Sign in to that "
        "account, or use a certificate of another pass type id."
    )


def _identity_from(form: PassTypeForm) -> SigningIdentity | None:
    """Load and check the uploads, putting each failure next to its field."""
    pieces = _from_p12(form) if form.p12.data else _from_pem(form)
    wwdr = _load(form.wwdr, load_certificate)
    if pieces is None or wwdr is None:
        return None

    certificate, private_key = pieces
    now = datetime.now(UTC)
    try:
        return build_identity(certificate, private_key, wwdr, now=now)
    except CertificateError as exc:
        _refused_field(form, certificate, private_key, now).errors.append(str(exc))
        return None


def _from_p12(form: PassTypeForm) -> tuple[x509.Certificate, PrivateKey] | None:
    try:
        return load_p12(form.p12.data, form.p12_password.data)
    except CertificateError as exc:
        # load_p12 chains the library's error only when the file would not
        # open, which is nearly always the password; the rest is its content.
        field = form.p12_password if exc.__cause__ is not None else form.p12
        field.errors.append(str(exc))
        return None


def _from_pem(form: PassTypeForm) -> tuple[x509.Certificate, PrivateKey] | None:
    certificate = _load(form.certificate, load_certificate)
    try:
        private_key = load_pem_key(form.private_key.data, form.key_password.data)
    except CertificateError as exc:
        # A missing password shows as TypeError; a failed decryption with a
        # password given is the password's fault more often than the file's.
        cause = exc.__cause__
        about_password = isinstance(cause, TypeError) or (
            isinstance(cause, ValueError) and bool(form.key_password.data)
        )
        field = form.key_password if about_password else form.private_key
        field.errors.append(str(exc))
        return None
    return (certificate, private_key) if certificate is not None else None


def _load(field: Field, loader):
    try:
        return loader(field.data)
    except CertificateError as exc:
        field.errors.append(str(exc))
        return None


def _certificate_field(form: PassTypeForm) -> Field:
    return form.p12 if form.p12.data else form.certificate


def _refused_field(
    form: PassTypeForm,
    certificate: x509.Certificate,
    private_key: PrivateKey,
    now: datetime,
) -> Field:
    """Return the field holding what build_identity refused.

    build_identity checks the certificate first, then that the key belongs to
    it, then the WWDR, and reports the first failure; this retraces that order.
    """
    try:
        read_identity(certificate)
    except CertificateError:
        return _certificate_field(form)
    if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
        return _certificate_field(form)
    if certificate.public_key() != private_key.public_key():
        return form.p12 if form.p12.data else form.private_key
    return form.wwdr


@bp.get("/pass-types/<int:pass_type_id>")
def pass_type(pass_type_id: int):
    """Show one pass type: identifiers, expiry, devices, pushes and Wallet log."""
    found = summaries.owned_or_404(PassType, pass_type_id, current_user.merchant_id)
    registrations, registration_total = summaries.pass_type_registrations(found)

    return render_template(
        "dashboard/pass_types/detail.html",
        pass_type=found,
        expires_soon=summaries.expires_soon(found),
        push_state=summaries.push_state(found),
        devices=_registered_devices(found),
        pushes=summaries.recent_pushes(found),
        registrations=registrations,
        registration_total=registration_total,
        log_lines=summaries.pass_type_wallet_log(found),
        log_preview=summaries.LOG_LINE_PREVIEW,
    )


def _registered_devices(pass_type: PassType) -> int:
    return (
        db.session.scalar(
            select(func.count(func.distinct(Registration.device_id)))
            .join(Registration.pass_)
            .where(Pass.pass_type_id == pass_type.id)
        )
        or 0
    )


@bp.post("/pass-types/<int:pass_type_id>/test-push", endpoint="test_push")
def send_test_push(pass_type_id: int):
    """Push to the pass type's most recently registered device and say how it went."""
    found = summaries.owned_or_404(PassType, pass_type_id, current_user.merchant_id)
    registration = _latest_registration(found)
    back = redirect(url_for("dashboard.pass_type", pass_type_id=found.id))
    if registration is None:
        flash("No device has registered a pass of this type yet: nothing to push to.")
        return back

    token = registration.push_token
    outcomes = push.push_to_tokens(found, {token: registration.device_id})
    log.info(
        "test push for pass type %s sent by user %s",
        found.pass_type_identifier,
        current_user.id,
    )

    flash(_push_report(found, token, outcomes))
    return back


def _latest_registration(pass_type: PassType) -> Registration | None:
    return db.session.scalar(
        select(Registration)
        .join(Registration.pass_)
        .where(Pass.pass_type_id == pass_type.id)
        .order_by(Registration.updated_at.desc(), Registration.id.desc())
        .limit(1)
    )


def _push_report(pass_type: PassType, token: str, outcomes: Counter) -> str:
    """Describe a test push's outcome for the flash message."""
    if not outcomes:
        return f"The test push was not sent: {pass_type.push_problem}"

    suffix = token[-8:]
    hint = token_hint(token)
    outcome = next(iter(outcomes))
    if outcome == push.SENT:
        return f"Test push sent: APNs accepted it for the device with token {hint}."
    if outcome == push.UNREGISTERED:
        return (
            f"APNs answered 410 Unregistered for the device with token {hint}: "
            "the pass is no longer on it, so its registration was removed."
        )
    attempt = db.session.scalar(
        select(PushAttempt)
        .where(PushAttempt.pass_type_id == pass_type.id)
        .where(PushAttempt.push_token_suffix == suffix)
        .order_by(PushAttempt.id.desc())
        .limit(1)
    )
    answer = (
        f"APNs answered {attempt.status_code} {attempt.reason or ''}".rstrip()
        if attempt.status_code
        else f"no answer from APNs ({attempt.reason})"
    )
    report = f"The test push to the device with token {hint} failed: {answer}."
    if pass_type.push_problem:
        report += f" {pass_type.push_problem}"
    return report
