"""The page behind a download link."""

import re

from flask import Response, abort, render_template

from app.downloads import bp
from app.downloads.links import find_link
from app.models import utcnow
from app.passes.bundle import PKPASS_MIME
from app.passes.service import signed_bundle


@bp.get("/<token>")
def download(token: str):
    """Send the pass's .pkpass; 404 for an unknown link, 410 for a dead one."""
    link = find_link(token) if len(token) <= 64 else None
    if link is None:
        abort(404)
    if not link.is_usable(utcnow()):
        return render_template("downloads/unavailable.html"), 410

    pass_ = link.pass_
    response = Response(signed_bundle(pass_), mimetype=PKPASS_MIME)
    name = re.sub(r"[^A-Za-z0-9]+", "-", pass_.template.name).strip("-") or "pass"
    response.headers.set("Content-Disposition", "attachment", filename=f"{name}.pkpass")
    response.last_modified = pass_.updated_at
    response.cache_control.no_store = True
    return response
