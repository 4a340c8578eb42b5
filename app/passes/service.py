"""Issuing and updating passes, and keeping their signed bundles."""

import json
import logging
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app import audit, jobs
from app.certificates import SigningIdentity, encrypt_private_key, load_identity
from app.extensions import db
from app.models import (
    Merchant,
    Pass,
    PassType,
    SignedBundle,
    Template,
    TemplateImage,
    TemplateUpdate,
    UpdateCounter,
    utcnow,
)
from app.passes.bundle import (
    PassDataError,
    build_pkpass,
    bundle_files,
    render_pass_json,
    sample_values,
    validate_files,
)
from app.passes.importer import ImportedDesign
from app.passes.validation import PassValidationError, style_of
from app.preview.barcodes import barcode_problem
from app.webhooks import events

log = logging.getLogger(__name__)

# Serials appear in Wallet's URL paths, so they keep to URL-safe characters.
SERIAL_NUMBER = re.compile(r"[A-Za-z0-9._-]{1,64}")


class PassTypeTaken(ValueError):
    """The pass type identifier is already registered on this server."""


class SerialTaken(ValueError):
    """The pass type already has a pass with that serial number."""


def web_service_url() -> str:
    """Return the webServiceURL written into every pass (Wallet adds /v1/...)."""
    return current_app.config["PUBLIC_URL"] + "/passkit"


def signing_identity(pass_type: PassType) -> SigningIdentity:
    """Decrypt the pass type's certificate and key for signing or pushing."""
    return load_identity(
        pass_type.certificate_pem,
        pass_type.private_key_encrypted,
        pass_type.wwdr_certificate_pem,
        current_app.config["KEY_ENCRYPTION_KEY"],
    )


def create_pass_type(
    merchant: Merchant, identity: SigningIdentity, *, actor: str = "system"
) -> PassType:
    """Store a checked signing identity, its key encrypted, for the merchant."""
    existing = db.session.scalar(
        select(PassType).filter_by(pass_type_identifier=identity.pass_type_identifier)
    )
    if existing is not None:
        raise PassTypeTaken(
            f"The pass type {identity.pass_type_identifier} is already set up here."
        )
    pass_type = PassType(
        merchant=merchant,
        pass_type_identifier=identity.pass_type_identifier,
        team_identifier=identity.team_identifier,
        certificate_pem=identity.certificate_pem(),
        wwdr_certificate_pem=identity.wwdr_pem(),
        private_key_encrypted=encrypt_private_key(
            identity.private_key, current_app.config["KEY_ENCRYPTION_KEY"]
        ),
        certificate_expires_at=identity.expires_at,
    )
    db.session.add(pass_type)
    audit.record("pass_type.added", pass_type.pass_type_identifier, merchant.id, actor)
    db.session.commit()
    log.info(
        "pass type %s added for merchant %s",
        pass_type.pass_type_identifier,
        merchant.id,
    )
    return pass_type


def create_template(
    pass_type: PassType, name: str, imported: ImportedDesign
) -> Template:
    """Store a design as a template of the pass type, after checking it."""
    template = Template(
        merchant_id=pass_type.merchant_id,
        pass_type=pass_type,
        name=name,
        style=imported.style,
        design=imported.design,
        localizations=imported.localizations,
    )
    template.images = [
        TemplateImage(path=path, content=content)
        for path, content in imported.images.items()
    ]
    check_design(template)
    db.session.add(template)
    db.session.commit()
    log.info("template %s created for pass type %s", template.id, pass_type.id)
    return template


def check_design(template: Template) -> None:
    """Raise PassValidationError if passes of this template would be refused."""
    files = render_template_sample(template)
    validate_files(files, allow_http=current_app.config["DEVELOPMENT"])


def render_template_sample(template: Template) -> dict[str, bytes]:
    """Return the bundle files of a pass of the template filled with sample values."""
    return _render(
        template,
        sample_values(template.design),
        serial_number="sample-serial",
        authentication_token=new_authentication_token(),
    )


def render_files(pass_: Pass, *, strict: bool = False) -> dict[str, bytes]:
    """Return the pass's bundle files, before the manifest and signature.

    A placeholder the template gained after the pass was issued shows empty
    until the pass's data gives it a value; with `strict` it raises
    PassDataError instead, as new data must fill every placeholder.
    """
    return _render(
        pass_.template,
        pass_.data,
        serial_number=pass_.serial_number,
        authentication_token=pass_.authentication_token,
        is_voided=pass_.is_voided,
        missing=None if strict else "",
    )


def check_pass(pass_: Pass, *, strict: bool = True) -> None:
    """Raise PassDataError or PassValidationError if the pass cannot be signed.

    `strict` checks new data: it refuses data that leaves a placeholder
    without a value or makes a barcode no scanner could read.
    """
    files = render_files(pass_, strict=strict)
    validate_files(files, allow_http=current_app.config["DEVELOPMENT"])
    if strict:
        _check_barcodes(json.loads(files["pass.json"]))


def _check_barcodes(pass_json: dict[str, Any]) -> None:
    """Refuse barcodes Wallet cannot show: no message, or one that cannot fit."""
    problems = dict.fromkeys(
        barcode_problem(barcode) for barcode in pass_json.get("barcodes", [])
    )
    messages = []
    for problem in problems:
        if problem is None:
            continue
        message = f"The barcode cannot be made from this data: {problem}"
        if "cannot hold" in problem:
            message += (
                " Type other characters, or choose the utf-8 encoding in the "
                "template's barcode design."
            )
        messages.append(message)
    if messages:
        raise PassValidationError(messages)


def _render(
    template: Template,
    data: dict[str, Any],
    *,
    serial_number: str,
    authentication_token: str,
    is_voided: bool = False,
    missing: str | None = None,
) -> dict[str, bytes]:
    pass_json = render_pass_json(
        template.design,
        data,
        pass_type_identifier=template.pass_type.pass_type_identifier,
        team_identifier=template.pass_type.team_identifier,
        serial_number=serial_number,
        authentication_token=authentication_token,
        web_service_url=web_service_url(),
        is_voided=is_voided,
        missing=missing,
    )
    images = {image.path: image.content for image in template.images}
    return bundle_files(pass_json, images, template.localizations)


def new_serial_number() -> str:
    """Return a random serial number for a pass issued without one."""
    return secrets.token_hex(10)


def new_authentication_token() -> str:
    """Return a pass's authenticationToken: 192 random bits, 32 characters.

    Apple asks for at least 16 characters; Wallet sends it back on every call.
    """
    return secrets.token_urlsafe(24)


def issue_pass(
    template: Template,
    data: dict[str, Any],
    serial_number: str | None = None,
    *,
    customer_email: str | None = None,
) -> Pass:
    """Create a pass of the template; raises PassDataError for missing data.

    The caller checks `customer_email`; it is stored in lower case, as the
    pass list searches it.
    """
    serial_number = serial_number or new_serial_number()
    if not SERIAL_NUMBER.fullmatch(serial_number):
        raise PassDataError(
            "A serial number is 1 to 64 letters, digits, dots, dashes or underscores."
        )
    taken = db.session.scalar(
        select(Pass.id).filter_by(
            pass_type_id=template.pass_type_id, serial_number=serial_number
        )
    )
    if taken is not None:
        raise SerialTaken(f"A pass with serial number {serial_number} exists.")
    pass_ = Pass(
        pass_type=template.pass_type,
        template=template,
        serial_number=serial_number,
        authentication_token=new_authentication_token(),
        data=dict(data),
        customer_email=customer_email.strip().lower() if customer_email else None,
    )
    check_pass(pass_)
    mark_changed([pass_])
    db.session.add(pass_)
    db.session.commit()
    log.info("pass %s issued from template %s", pass_.serial_number, template.id)
    return pass_


def update_pass(
    pass_: Pass,
    data: dict[str, Any] | None = None,
    *,
    is_voided: bool | None = None,
    actor: str = "system",
    push: bool = True,
    report: bool = True,
) -> bool:
    """Change a pass's data or voided flag, then push to its devices.

    The pass is rendered and checked before anything is stored, so bad data
    raises PassDataError or PassValidationError and leaves the pass as it was.
    With `push` False no push job is queued: the caller pushes itself (the
    merchant API does, to answer with the outcomes). With `report` False no
    pass.updated webhook event is recorded: the caller reports many passes at
    once (events.passes_updated). Data equal to the pass's own, with the voided
    flag as it is, changes nothing: no new version, event or push, and the
    answer is False.
    """
    voiding = is_voided is not None and is_voided != pass_.is_voided
    if not voiding and (data is None or dict(data) == pass_.data):
        return False
    if data is not None:
        pass_.data = dict(data)
    if is_voided is not None:
        pass_.is_voided = is_voided
    try:
        # Voiding alone keeps the data as it is, whatever the template gained.
        check_pass(pass_, strict=data is not None)
    except ValueError:
        db.session.rollback()
        raise
    mark_changed([pass_])
    if voiding:
        action = "pass.voided" if is_voided else "pass.unvoided"
        merchant_id = pass_.pass_type.merchant_id
        audit.record(action, pass_.serial_number, merchant_id, actor)
    db.session.commit()
    log.info("pass %s updated", pass_.serial_number)
    if report:
        events.pass_updated(pass_)
    if push:
        jobs.enqueue("app.push.service.push_pass_updates", [pass_.id])
    return True


def update_template_design(
    template: Template,
    design: dict[str, Any],
    *,
    localizations: dict[str, dict[str, str]] | None = None,
    actor: str = "system",
) -> TemplateUpdate:
    """Store a checked design, then re-sign and push the template's passes.

    The passes get their new update tag at once, so a device polling in the
    meantime already gets the new content; a background job signs and pushes
    the ones with devices, recording its progress in the returned TemplateUpdate.
    """
    # New dicts, so SQLAlchemy sees the JSON columns change.
    template.design = dict(design)
    template.style = style_of(design) or template.style
    if localizations is not None:
        template.localizations = dict(localizations)
    audit.record("template.updated", template.name, template.merchant_id, actor)
    return start_template_update(template)


def passes_without(template: Template, names: set[str]) -> dict[str, int]:
    """Count the template's passes whose data has no value for each name."""
    counts = {}
    for name in sorted(names):
        count = db.session.scalar(
            select(func.count(Pass.id)).where(
                Pass.template_id == template.id,
                Pass.data[name].as_string().is_(None),
            )
        )
        if count:
            counts[name] = count
    return counts


def start_template_update(template: Template) -> TemplateUpdate:
    """Mark every pass of the template changed and start re-signing and pushing."""
    tag = mark_template_changed(template)
    with_devices = db.session.scalar(
        select(func.count(Pass.id)).where(
            Pass.template_id == template.id, Pass.registrations.any()
        )
    )
    template_update = TemplateUpdate(
        template_id=template.id, update_tag=tag, total=with_devices
    )
    db.session.add(template_update)
    db.session.commit()
    log.info("template %s changed: %s passes with devices", template.id, with_devices)
    events.template_updated(template, tag)
    jobs.enqueue("app.passes.template_updates.run_template_update", template_update.id)
    return template_update


def mark_template_changed(template: Template) -> int:
    """Give every pass of the template one new update tag, in one statement.

    All of them move to the same Last-Modified, later than any of theirs, which
    keeps each pass's dates distinct per content version as mark_changed does.
    """
    tag = UpdateCounter.next_tag()
    moment = utcnow().replace(microsecond=0)
    latest = db.session.scalar(
        select(func.max(Pass.updated_at)).where(Pass.template_id == template.id)
    )
    if latest is not None and latest >= moment:
        moment = latest.replace(microsecond=0) + timedelta(seconds=1)
    db.session.execute(
        update(Pass)
        .where(Pass.template_id == template.id)
        .values(update_tag=tag, updated_at=moment)
    )
    return tag


def mark_changed(passes: Iterable[Pass]) -> None:
    """Give the passes a new update tag and a later Last-Modified.

    Last-Modified has whole seconds, so a second change within the same second
    moves it one second on: each content version keeps a distinct date and a
    device asking If-Modified-Since never misses it.
    """
    tag = UpdateCounter.next_tag()
    now = utcnow().replace(microsecond=0)
    for pass_ in passes:
        previous = pass_.updated_at
        pass_.update_tag = tag
        pass_.updated_at = (
            max(now, previous + timedelta(seconds=1)) if previous else now
        )


def signed_bundle(pass_: Pass) -> bytes:
    """Return the pass's .pkpass, signing it only if its content changed."""
    stored = db.session.get(SignedBundle, pass_.id)
    if stored is not None and stored.update_tag == pass_.update_tag:
        return stored.content

    content = build_pkpass(
        render_files(pass_),
        signing_identity(pass_.pass_type),
        modified_at=pass_.updated_at,
        allow_http=current_app.config["DEVELOPMENT"],
    )
    if stored is None:
        db.session.add(
            SignedBundle(pass_id=pass_.id, update_tag=pass_.update_tag, content=content)
        )
    else:
        stored.update_tag, stored.content = pass_.update_tag, content
        stored.signed_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError:
        # Another request signed the same version first; its bytes are as good.
        db.session.rollback()
    return content
