"""Error answers: bare status codes for Wallet, plain pages elsewhere."""

import logging

from flask import Flask, abort, current_app, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Refuse NUL bytes in URLs and route every error to the handlers below."""
    app.before_request(refuse_nul_bytes)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)


def refuse_nul_bytes() -> None:
    """Answer 404 for a path or query with a NUL byte, which no database stores."""
    query = "".join(k + v for k, v in request.args.items(multi=True))
    if "\x00" in request.path or "\x00" in query:
        abort(404)


def handle_http_error(error: HTTPException):
    """Answer a bare status under /passkit, the default error page elsewhere.

    A refused upload (413) gets a page of the site's own that names the limit.
    """
    if _is_wallet_request():
        # Wallet reads only the status; Apple's service answers no body. Other
        # headers stay: a 405 must name the allowed methods.
        headers = [(k, v) for k, v in error.get_headers() if k != "Content-Type"]
        return "", error.code, headers
    if error.code == 413:
        # Werkzeug's own page names no limit; a merchant uploading a file needs it.
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        limit_mb = limit // (1024 * 1024) if limit else None
        return render_template("errors/too_large.html", limit_mb=limit_mb), 413
    return error


def _is_wallet_request() -> bool:
    if request.blueprint == "wallet":
        return True
    # A URL that matched no rule (404, 405) has no blueprint: go by the prefix.
    prefix = current_app.blueprints["wallet"].url_prefix
    return request.path == prefix or request.path.startswith(prefix + "/")


def handle_unexpected_error(error: Exception):
    """Roll the session back, log the traceback and answer a 500."""
    db.session.rollback()
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return handle_http_error(InternalServerError())
