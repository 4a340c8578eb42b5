"""Bulk issuing pages: upload a CSV, map its columns, preview, dry run, create."""

import logging

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from app.dashboard import bp, summaries
from app.dashboard.bulk_import_forms import (
    MappingForm,
    RunForm,
    UploadCsvForm,
    mapping_form,
)
from app.extensions import db
from app.models import BULK_CHECKED, BulkImport, Template
from app.passes.bulk import runs
from app.passes.bulk.csv_file import (
    MAX_BYTES,
    MAX_ROWS,
    CsvError,
    Mapping,
    mapping_errors,
    read_csv,
    refused_csv,
)
from app.passes.bundle import data_placeholders

log = logging.getLogger(__name__)

# Refused rows listed on a page; the CSV download has all of them.
LISTED_REFUSALS = 100
RECENT_IMPORTS = 10


@bp.get("/templates/<int:template_id>/bulk")
def bulk_upload_form(template_id: int):
    """Show the CSV upload form and the template's recent imports."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)

    return _upload_page(template, UploadCsvForm())


@bp.post("/templates/<int:template_id>/bulk")
def bulk_upload(template_id: int):
    """Keep an uploaded CSV and lead to its mapping; a bad file stores nothing."""
    template = summaries.owned_or_404(Template, template_id, current_user.merchant_id)
    form = UploadCsvForm()
    if not form.validate_on_submit():
        return _upload_page(template, form), 400

    try:
        bulk_import = runs.create_import(
            template, form.filename, form.csv_file.data, f"user:{current_user.id}"
        )
    except CsvError as error:
        form.csv_file.errors.append(str(error))
        return _upload_page(template, form), 400

    return redirect(url_for("dashboard.bulk_import", import_id=bulk_import.id))


def _upload_page(template: Template, form: UploadCsvForm) -> str:
    recent = db.session.scalars(
        select(BulkImport)
        .where(BulkImport.template_id == template.id)
        .order_by(BulkImport.id.desc())
        .limit(RECENT_IMPORTS)
    ).all()
    return render_template(
        "dashboard/bulk/upload.html",
        template=template,
        form=form,
        placeholders=data_placeholders(template.design),
        recent=recent,
        max_rows=MAX_ROWS,
        max_mb=MAX_BYTES // (1024 * 1024),
    )


@bp.get("/bulk-imports/<int:import_id>")
def bulk_import(import_id: int):
    """Show the mapping and the stored preview, or the run's progress and outcome."""
    found = _owned_import(import_id)

    if found.status not in runs.OPEN:
        return _result_page(found)
    layout = runs.file_layout(found)
    placeholders = data_placeholders(found.template.design)
    mapping = Mapping.from_json(found.mapping)
    form = mapping_form(layout, placeholders, mapping)
    return _mapping_page(found, form, mapping_errors(layout, placeholders, mapping))


@bp.post("/bulk-imports/<int:import_id>/mapping")
def bulk_mapping(import_id: int):
    """Store the chosen columns with the preview they give, then show it."""
    found = _owned_import(import_id)
    if found.status not in runs.OPEN:
        flash("This file is already being issued or was issued.")
        return redirect(url_for("dashboard.bulk_import", import_id=found.id))
    layout = runs.file_layout(found)
    placeholders = data_placeholders(found.template.design)
    form = mapping_form(layout, placeholders, Mapping.from_json(found.mapping))
    if not form.validate_on_submit():
        return _mapping_page(found, form, {}), 400

    mapping = form.mapping()
    errors = mapping_errors(layout, placeholders, mapping)
    if errors:
        return _mapping_page(found, form, errors), 400

    runs.save_mapping(found, mapping)
    return redirect(url_for("dashboard.bulk_import", import_id=found.id))


@bp.post("/bulk-imports/<int:import_id>/run")
def bulk_run(import_id: int):
    """Start a dry run, or create the passes of the good rows (and email them)."""
    found = _owned_import(import_id)
    form = RunForm()
    action = request.form.get("action")
    page = url_for("dashboard.bulk_import", import_id=found.id)
    if not form.validate_on_submit() or action not in {"dry-run", "create"}:
        abort(400)
    mapping = Mapping.from_json(found.mapping)
    placeholders = data_placeholders(found.template.design)
    if mapping_errors(runs.file_layout(found), placeholders, mapping):
        flash("Choose a column for every placeholder first.")
        return redirect(page)
    email_passes = action == "create" and form.email_passes.data
    if email_passes and not mapping.email:
        flash("Choose the column with the customers' email addresses to email them.")
        return redirect(page)

    started = runs.start_run(
        found, dry_run=action == "dry-run", email_passes=email_passes
    )
    if not started:
        flash("This file is already being issued or was issued.")
    else:
        log.info("bulk import %s %s by user %s", found.id, action, current_user.id)
    return redirect(page)


@bp.get("/bulk-imports/<int:import_id>/progress")
def bulk_import_progress(import_id: int):
    """Return how far the import's run has got, for the page's progress bar."""
    found = _owned_import(import_id)

    return jsonify(runs.progress(found))


@bp.get("/bulk-imports/<int:import_id>/refused.csv")
def bulk_import_refused(import_id: int):
    """Download the rows the last run refused, each with its line and errors."""
    found = _owned_import(import_id)

    content = refused_csv(
        read_csv(found.content), [tuple(item) for item in found.refused_rows]
    )
    stem = found.filename.rsplit(".", 1)[0] or "import"
    safe_stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:80]
    return Response(
        content,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{safe_stem}-refused.csv"',
            "Cache-Control": "no-store",
        },
    )


def _owned_import(import_id: int) -> BulkImport:
    return summaries.owned_or_404(BulkImport, import_id, current_user.merchant_id)


def _mapping_page(found: BulkImport, form: MappingForm, errors: dict[str, str]) -> str:
    template = found.template
    preview = runs.stored_preview(found)
    return render_template(
        "dashboard/bulk/mapping.html",
        bulk_import=found,
        template=template,
        layout=runs.file_layout(found),
        form=form,
        errors=errors,
        mapping=Mapping.from_json(found.mapping),
        placeholders=data_placeholders(template.design),
        preview=[] if errors else preview["rows"],
        counts=None if errors else preview["counts"],
        run_form=RunForm(),
        checked=found.status == BULK_CHECKED,
        refusals=found.refused_rows[:LISTED_REFUSALS],
    )


def _result_page(found: BulkImport) -> str:
    return render_template(
        "dashboard/bulk/result.html",
        bulk_import=found,
        template=found.template,
        progress=runs.progress(found),
        refusals=found.refused_rows[:LISTED_REFUSALS],
    )
