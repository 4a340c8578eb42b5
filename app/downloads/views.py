"""The pages behind a download link, and the bundles they hand out.

`/p/<token>` is always a page; the bundles live at their own URLs beneath it,
so a browser, Wallet and curl each get what they asked for.
"""

import json
import re
from datetime import datetime

import segno
from flask import Response, abort, make_response, render_template, request, url_for

from app.downloads import bp
from app.downloads.links import find_link, link_url
from app.models import DownloadLink, Pass, utcnow
from app.passes import service
from app.passes.bundle import PKPASS_MIME, PKPASSES_MIME, zip_passes
from app.preview.layout import PassPreview, preview_model

# The QR code of the page's own URL: pixels per module, and the quiet zone
# in modules that scanners need around it.
QR_SCALE = 4
QR_BORDER = 4


@bp.after_request
def keep_private(response: Response) -> Response:
    """Keep link pages out of caches, search engines and Referer headers."""
    response.cache_control.no_store = True
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/<token>")
def link_page(token: str):
    """Show the link's passes, a button that adds them and a QR code of the link."""
    link = _usable_link_or_abort(token)

    passes = link.passes
    language = request.accept_languages.best_match(
        passes[0].template.localizations.keys()
    )
    previews = [_preview(pass_, language) for pass_ in passes]
    is_order = len(passes) > 1
    download = "downloads.download_passes" if is_order else "downloads.download_pass"
    qr = segno.make_qr(link_url(link), error="m")

    return render_template(
        "downloads/page.html",
        previews=previews,
        title=_title(previews),
        is_order=is_order,
        download_url=url_for(download, token=link.token),
        qr_uri=qr.png_data_uri(scale=QR_SCALE, border=QR_BORDER),
        qr_size=qr.symbol_size(scale=QR_SCALE, border=QR_BORDER)[0],
    )


@bp.get("/<token>/pass.pkpass")
def download_pass(token: str):
    """Send the link's one pass as a signed .pkpass."""
    link = _usable_link_or_abort(token)
    passes = link.passes
    if len(passes) != 1:
        abort(404)

    pass_ = passes[0]
    response = Response(service.signed_bundle(pass_), mimetype=PKPASS_MIME)
    return _attachment(response, _file_stem(pass_.template.name), "pkpass", [pass_])


@bp.get("/<token>/passes.pkpasses")
def download_passes(token: str):
    """Send every pass of an order link as one .pkpasses bundle."""
    link = _usable_link_or_abort(token)
    passes = link.passes
    if len(passes) < 2:
        abort(404)

    bundles = {
        f"{number:02d}-{_file_stem(pass_.template.name)}.pkpass": (
            service.signed_bundle(pass_)
        )
        for number, pass_ in enumerate(passes, 1)
    }
    content = zip_passes(bundles, max(pass_.updated_at for pass_ in passes))
    response = Response(content, mimetype=PKPASSES_MIME)
    stem = _file_stem(passes[0].pass_type.merchant.name)
    return _attachment(response, stem, "pkpasses", passes)


def _usable_link_or_abort(token: str) -> DownloadLink:
    """Return the link if it can be used; else answer 404 or the 410 page."""
    link = find_link(token)
    if link is None or not link.items:
        abort(make_response(render_template("downloads/not_found.html"), 404))

    # A voided pass is no longer valid: it is not handed out to be added.
    is_voided = all(pass_.is_voided for pass_ in link.passes)
    if is_voided or not link.is_usable(utcnow()):
        merchant = link.passes[0].pass_type.merchant
        page = render_template(
            "downloads/unavailable.html",
            organization=merchant.name,
            is_voided=is_voided,
            several=len(link.passes) > 1,
            is_revoked=link.revoked_at is not None,
            expired_on=_day(link.expires_at) if link.expires_at else None,
        )
        abort(make_response(page, 410))
    return link


def _preview(pass_: Pass, language: str | None) -> PassPreview:
    """Draw the pass as Wallet shows it, from its own data."""
    files = service.render_files(pass_)
    images = {path: content for path, content in files.items() if path.endswith(".png")}
    return preview_model(
        json.loads(files["pass.json"]),
        images,
        language=language,
        localizations=pass_.template.localizations,
    )


def _title(previews: list[PassPreview]) -> str:
    first = previews[0]
    if len(previews) > 1:
        parts = (first.organization_name, f"{len(previews)} passes")
    else:
        parts = (first.organization_name, first.description)
    return " · ".join(part for part in parts if part)


def _attachment(
    response: Response, stem: str, extension: str, passes: list[Pass]
) -> Response:
    response.headers.set(
        "Content-Disposition", "attachment", filename=f"{stem}.{extension}"
    )
    response.last_modified = max(pass_.updated_at for pass_ in passes)
    return response


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-") or "pass"


def _day(moment: datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"
