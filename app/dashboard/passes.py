"""Pass pages: the list with search and filters, one pass, its devices."""

import json
import logging
import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.http import http_date

from app.dashboard import bp, pass_queries
from app.dashboard.forms import ButtonForm
from app.dashboard.link_forms import NewLinkForm
from app.dashboard.mail_forms import mail_request_form
from app.dashboard.pass_forms import PassDataForm, pass_data_form
from app.dashboard.summaries import owned_or_404
from app.downloads.links import link_url
from app.models import Pass, Template, utcnow
from app.passes import queries, service
from app.passes.bundle import PassDataError
from app.passes.validation import PassValidationError
from app.preview.layout import PassPreview, preview_model

log = logging.getLogger(__name__)

# Ids in query strings: anything that is not a plain number of a sane length
# is ignored rather than sent to the database.
ID = re.compile(r"[0-9]{1,18}")
YES_NO = {"yes": True, "no": False}
MAX_SEARCH_LENGTH = 200
VOIDED_DATA = (
    "The pass is voided: its data no longer changes, and Wallet shows it as "
    "no longer valid."
)


@bp.get("/passes")
def passes():
    """List the merchant's passes, newest first, with search and filters."""
    merchant_id = current_user.merchant_id
    filters = list_filters(request.args)
    after = _id(request.args.get("after"))

    if filters.template_id is not None:
        owned_or_404(Template, filters.template_id, merchant_id)

    page = pass_queries.pass_page(merchant_id, filters, after)
    next_url = None
    if page.next_after is not None:
        next_url = url_for(
            "dashboard.passes", **filters.query_args(), after=page.next_after
        )
    return render_template(
        "dashboard/passes/list.html",
        page=page,
        filters=filters,
        templates=pass_queries.templates(merchant_id),
        next_url=next_url,
        first_url=url_for("dashboard.passes", **filters.query_args()),
        is_first_page=after is None,
    )


def list_filters(args: MultiDict) -> queries.PassFilters:
    """Read the pass list's filters from its query (or form) arguments."""
    return queries.PassFilters(
        serial_prefix=args.get("serial", "").strip()[:MAX_SEARCH_LENGTH],
        text=args.get("text", "").strip()[:MAX_SEARCH_LENGTH],
        template_id=_id(args.get("template")),
        is_voided=YES_NO.get(args.get("voided", "")),
        has_devices=YES_NO.get(args.get("devices", "")),
    )


def _id(value: str | None) -> int | None:
    return int(value) if value and ID.fullmatch(value) else None


@bp.get("/passes/<int:pass_id>")
def pass_detail(pass_id: int):
    """Show one pass: data, state, links, devices (and removed ones), pushes, log."""
    pass_ = pass_queries.owned_pass_or_404(pass_id, current_user.merchant_id)

    return detail_page(pass_, pass_data_form(pass_))


@bp.post("/passes/<int:pass_id>/data")
def update_pass_data(pass_id: int):
    """Store new data for the pass, re-sign it and push it to its devices."""
    pass_ = pass_queries.owned_pass_or_404(pass_id, current_user.merchant_id)
    form = pass_data_form(pass_)
    if not form.validate_on_submit():
        return detail_page(pass_, form)
    if pass_.is_voided:
        return detail_page(pass_, form, data_errors=[VOIDED_DATA])
    data = form.pass_data(pass_.data)

    try:
        changed = service.update_pass(pass_, data, actor=f"user:{current_user.id}")
    except (PassDataError, PassValidationError) as error:
        # update_pass stored nothing; the form keeps what was typed.
        return detail_page(pass_, form, data_errors=_messages(error))

    if not changed:
        flash("Nothing changed: the pass is as it was, and no device was updated.")
        return redirect(url_for("dashboard.pass_detail", pass_id=pass_.id))
    log.info("pass %s data changed by user %s", pass_.id, current_user.id)
    flash("Saved. Devices with the pass are being updated.")
    return redirect(url_for("dashboard.pass_detail", pass_id=pass_.id))


@bp.post("/passes/<int:pass_id>/void")
def void_pass(pass_id: int):
    """Void the pass, re-sign it and push it to its devices."""
    pass_ = pass_queries.owned_pass_or_404(pass_id, current_user.merchant_id)
    back = redirect(url_for("dashboard.pass_detail", pass_id=pass_.id))
    if not ButtonForm().validate_on_submit():
        abort(400)
    if pass_.is_voided:
        flash("The pass is already voided.")
        return back

    try:
        service.update_pass(pass_, is_voided=True, actor=f"user:{current_user.id}")
    except (PassDataError, PassValidationError) as error:
        flash(f"The pass could not be voided: {'; '.join(_messages(error))}")
        return back

    log.info("pass %s voided by user %s", pass_.id, current_user.id)
    flash("The pass is voided. Devices with the pass are being updated.")
    return back


def _messages(error: PassDataError | PassValidationError) -> list[str]:
    return list(getattr(error, "errors", None) or [str(error)])


def detail_page(
    pass_: Pass,
    form: PassDataForm,
    data_errors=(),
    link_form: NewLinkForm | None = None,
):
    """Render the pass page, with the data form (and a link form) as given."""
    registrations = queries.registrations(pass_)
    links = [
        (link, link_url(link), link.is_usable(utcnow()))
        for link in pass_queries.download_links(pass_)
    ]
    return render_template(
        "dashboard/passes/detail.html",
        pass_=pass_,
        last_modified=http_date(pass_.updated_at),
        data_rows=sorted(pass_.data.items()),
        form=form,
        data_errors=data_errors,
        void_form=ButtonForm(),
        link_form=link_form or NewLinkForm(),
        revoke_form=ButtonForm(),
        mail_form=mail_request_form(),
        links=links,
        registrations=registrations,
        removals=pass_queries.recent_removals(pass_),
        pushes=pass_queries.recent_pushes(pass_, [r.device_id for r in registrations]),
        log_lines=pass_queries.wallet_log(pass_),
        preview=_preview(pass_),
    )


def _preview(pass_: Pass) -> PassPreview:
    """Draw the pass as its devices show it, from its own data."""
    files = service.render_files(pass_)
    images = {path: content for path, content in files.items() if path.endswith(".png")}
    return preview_model(
        json.loads(files["pass.json"]),
        images,
        localizations=pass_.template.localizations,
    )
