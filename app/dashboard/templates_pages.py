"""Template pages: the list, importing a .pkpass, one template, issuing a pass."""

import json
import logging
import re
from types import SimpleNamespace
from typing import Any

from flask import (
    abort,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.dashboard import bp, designer, summaries
from app.dashboard.template_forms import (
    ImportTemplateForm,
    IssuePassForm,
    issue_pass_form,
    template_placeholders,
)
from app.downloads.links import create_link, link_url
from app.extensions import db
from app.models import Pass, Template, TemplateUpdate
from app.passes import service
from app.passes.bundle import PassDataError, placeholders
from app.passes.importer import PassImportError, import_design
from app.passes.validation import PassValidationError
from app.preview.layout import PassPreview, preview_model
from app.push.service import SENT, UNREGISTERED

log = logging.getLogger(__name__)
# Validation's words for a field without a key, which the designer reports
# next to the field's key input.
KEYLESS_FIELD = re.compile(r"a field in (?P<group>\w+) has no key")


@bp.get("/templates")
def templates():
    """List the merchant's templates with their pass type and number of passes."""
    merchant_id = current_user.merchant_id
    pass_count = (
        select(func.count(Pass.id))
        .where(Pass.template_id == Template.id)
        .correlate(Template)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Template, pass_count)
        .where(Template.merchant_id == merchant_id)
        .options(selectinload(Template.pass_type))
        .order_by(Template.id.desc())
    ).all()

    return render_template("dashboard/templates/list.html", rows=rows)


@bp.route("/templates/import", methods=["GET", "POST"])
def import_template():
    """Make a template from an uploaded .pkpass and one of the merchant's pass types."""
    own_types = {
        str(found.id): found for found in summaries.pass_types(current_user.merchant_id)
    }
    form = ImportTemplateForm()
    form.pass_type.choices = [
        (key, found.pass_type_identifier) for key, found in own_types.items()
    ]
    if not form.validate_on_submit():
        return _import_page(form, own_types)

    try:
        imported = import_design(form.pkpass.data)
        template = service.create_template(
            own_types[form.pass_type.data], form.template_name(), imported
        )
    except PassImportError as error:
        form.pkpass.errors.append(str(error))
        return _import_page(form, own_types)
    except (PassDataError, PassValidationError) as error:
        # create_template stored nothing; each reason Wallet would refuse it.
        db.session.rollback()
        form.pkpass.errors.extend(_messages(error))
        return _import_page(form, own_types)

    log.info("template %s imported by user %s", template.id, current_user.id)
    message = f"Template {template.name} imported."
    if imported.skipped:
        message += (
            " Files Wallet would not accept were left out: "
            f"{', '.join(imported.skipped)}."
        )
    flash(message)
    return redirect(url_for("dashboard.template_detail", template_id=template.id))


def _import_page(form: ImportTemplateForm, own_types: dict):
    if not own_types and form.is_submitted():
        form.pass_type.errors = ["Add a pass type before importing a design."]
    return render_template(
        "dashboard/templates/import.html", form=form, has_pass_types=bool(own_types)
    )


@bp.get("/templates/<int:template_id>")
def template_detail(template_id: int):
    """Show one template: its placeholders, a sample preview, the issuing form."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)

    return _detail_page(template, issue_pass_form(template))


@bp.post("/templates/<int:template_id>/passes")
def issue_pass(template_id: int):
    """Issue a pass of the template from the form and give it a download link."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    form = issue_pass_form(template)
    if not form.validate_on_submit():
        return _detail_page(template, form)

    try:
        pass_ = service.issue_pass(
            template,
            form.pass_data({}),
            serial_number=form.serial.data or None,
            customer_email=form.customer_email.data or None,
        )
    except service.SerialTaken as error:
        form.serial.errors.append(str(error))
        return _detail_page(template, form)
    except IntegrityError:
        # The same serial was issued by another request in the meantime.
        db.session.rollback()
        form.serial.errors.append(
            f"A pass with serial number {form.serial.data} exists."
        )
        return _detail_page(template, form)
    except (PassDataError, PassValidationError) as error:
        db.session.rollback()
        return _detail_page(template, form, data_errors=_messages(error))

    link = create_link(pass_)
    log.info("pass %s issued by user %s", pass_.id, current_user.id)
    flash(f"Pass {pass_.serial_number} issued. Download link: {link_url(link)}")
    return redirect(url_for("dashboard.pass_detail", pass_id=pass_.id))


def _messages(error: PassDataError | PassValidationError) -> list[str]:
    return list(getattr(error, "errors", None) or [str(error)])


def _detail_page(
    template: Template,
    form: IssuePassForm,
    data_errors=(),
    design_values: dict[str, str] | None = None,
    design_errors=(),
    field_errors: dict[str, str] | None = None,
):
    """Render the template page; the designer shows the form's values and errors."""
    passes = db.session.scalar(
        select(func.count(Pass.id)).where(Pass.template_id == template.id)
    )
    values = designer.design_form_values(template.design, template.localizations)
    values.update(design_values or {})
    strings = designer.string_rows(template.localizations)
    latest = _latest_update(template)
    return render_template(
        "dashboard/templates/detail.html",
        template=template,
        placeholders=template_placeholders(template),
        passes=passes or 0,
        form=form,
        data_errors=data_errors,
        preview=_sample_preview(template),
        design=values,
        design_fields=designer.design_fields(template.design),
        locations=designer.design_locations(template.design),
        string_indices=range(len(strings) + 1),
        languages=sorted(template.localizations),
        designer=designer,
        design_errors=design_errors,
        field_errors=field_errors or {},
        images_url=url_for("dashboard.template_images", template_id=template.id),
        latest_update=latest,
        progress=update_progress(latest) if latest else None,
    )


def _latest_update(template: Template) -> TemplateUpdate | None:
    return db.session.scalar(
        select(TemplateUpdate)
        .where(TemplateUpdate.template_id == template.id)
        .order_by(TemplateUpdate.id.desc())
        .limit(1)
    )


def _sample_preview(template: Template) -> PassPreview:
    """Draw a pass of the template filled with sample values."""
    return _draft_preview(template)


@bp.post("/templates/<int:template_id>/design")
def save_design(template_id: int):
    """Store the designer form's edits and push every pass of the template."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    values = request.form.to_dict()

    draft, errors, field_errors = _apply_form(template, values)
    if errors:
        return _detail_page(
            template,
            issue_pass_form(template),
            design_values=values,
            design_errors=[e for e in errors if e not in field_errors.values()],
            field_errors=field_errors,
        )

    new_placeholders = placeholders(draft.design) - placeholders(template.design)
    new_placeholders.discard("serialNumber")
    template_update = service.update_template_design(
        template,
        draft.design,
        localizations=draft.localizations,
        actor=f"user:{current_user.id}",
    )
    log.info("template %s design saved by user %s", template.id, current_user.id)
    flash(
        f"Design saved. {template_update.total} passes with devices are being "
        "re-signed and pushed; the others get the new design when downloaded."
    )
    for name, count in service.passes_without(template, new_placeholders).items():
        flash(
            f"{count} passes issued before have no value for {{{{{name}}}}}: "
            "they show it empty until their data gives it one."
        )
    return redirect(url_for("dashboard.template_detail", template_id=template.id))


@bp.post("/templates/<int:template_id>/preview")
def preview_design(template_id: int):
    """Return the preview of the designer form's edits, storing nothing."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    draft, errors, _ = _apply_form(template, request.form.to_dict())
    language = request.form.get("preview-language") or None
    if language not in draft.localizations:
        language = None

    try:
        preview = _draft_preview(draft, language)
    except PassDataError:
        # The edits cannot be filled in at all: show the stored design instead.
        preview = _sample_preview(template)
    pass_preview = get_template_attribute("preview/_pass.html", "pass_preview")
    error_list = render_template(
        "dashboard/templates/_design_errors.html", errors=errors[:5]
    )
    return str(pass_preview(preview)) + error_list


def _apply_form(
    template: Template, values: dict[str, str]
) -> tuple[Any, list[str], dict[str, str]]:
    """Return the template as the form would make it, its errors, those by input.

    The draft holds every edit that could be applied, so the preview shows as
    much of the merchant's work as possible even while some of it is invalid.
    """
    errors: list[str] = []
    field_errors: dict[str, str] = {}
    try:
        design = designer.apply_design_edits(template.design, values)
    except designer.DesignEditError as error:
        design, errors, field_errors = error.design, list(error.errors), error.fields
    try:
        strings = designer.apply_string_edits(template.localizations, values)
    except designer.DesignEditError as error:
        strings = error.strings or {}
        errors += error.errors
        field_errors = {**field_errors, **error.fields}
    draft = _draft(template, design, strings)
    try:
        service.check_design(draft)
    except (PassDataError, PassValidationError) as error:
        found = _messages(error)
        field_errors = dict(field_errors)
        errors += _style_image_errors(found, field_errors)
        for message in found:
            if designer.STYLE_IMAGE.match(message):
                continue
            if _said(message, errors, field_errors):
                continue
            name, message = designer.form_error(message)
            if name is None:
                errors.append(message)
            elif name not in field_errors:
                field_errors[name] = message
                errors.append(message)
    return draft, errors, field_errors


def _said(message: str, errors: list[str], field_errors: dict[str, str]) -> bool:
    """Tell whether the designer already said this in its own words."""
    keyless = KEYLESS_FIELD.fullmatch(message)
    if keyless:
        prefix = keyless["group"] + "-"
        return any(n.startswith(prefix) and n.endswith("-key") for n in field_errors)
    head = message.split(";", 1)[0]
    return any(error.split(";", 1)[0] == head for error in errors)


def _style_image_errors(messages: list[str], field_errors: dict[str, str]) -> list:
    """Turn "cannot show a strip image" messages into one next to the style.

    The page links that message to the images page, where they are removed.
    """
    found = designer.style_image_error(messages)
    if found is None:
        return []
    style, images = found
    names = " and ".join(images)
    message = (
        f"A {designer.option_label(style).lower()} pass cannot show the {names} "
        f"image{'s' if len(images) > 1 else ''} this template has: remove "
        f"{'them' if len(images) > 1 else 'it'} on the images page, then change "
        "the style."
    )
    field_errors.setdefault("style", message)
    return [message]


def _draft(
    template: Template, design: dict[str, Any], strings: dict[str, dict[str, str]]
) -> Any:
    """Return a stand-in for the template with another design, outside the session."""
    return SimpleNamespace(
        design=design,
        pass_type=template.pass_type,
        images=template.images,
        localizations=strings,
    )


def _draft_preview(draft: Any, language: str | None = None) -> PassPreview:
    """Draw a pass of a template or draft filled with sample values."""
    files = service.render_template_sample(draft)
    images = {path: content for path, content in files.items() if path.endswith(".png")}
    return preview_model(
        json.loads(files["pass.json"]),
        images,
        language,
        localizations=draft.localizations,
    )


@bp.get("/templates/<int:template_id>/updates/<int:update_id>")
def template_update_progress(template_id: int, update_id: int):
    """Return how far a template change has got, for the page's progress bar."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    found = db.session.get(TemplateUpdate, update_id)
    if found is None or found.template_id != template.id:
        abort(404)
    return jsonify(update_progress(found))


def update_progress(found: TemplateUpdate) -> dict[str, Any]:
    """Return a template change's progress as the page shows it."""
    outcomes = found.outcomes or {}
    sent = outcomes.get(SENT, 0)
    removed = outcomes.get(UNREGISTERED, 0)
    return {
        "total": found.total,
        "done": found.done,
        "sent": sent,
        "removed": removed,
        "failed": sum(outcomes.values()) - sent - removed,
        "finished": found.finished_at is not None,
    }
