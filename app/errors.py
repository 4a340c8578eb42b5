"""Error answers: bare statuses for Wallet, problems for the API, pages elsewhere."""

import logging
import time
from datetime import timedelta

from babel.dates import format_timedelta
from flask import Flask, abort, current_app, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.api.problems import is_api_request, problem_response
from app.extensions import db, limiter

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
    """Answer a bare status under /passkit, a page of the site's own elsewhere.

    A refused upload (413) gets a page that names the limit.
    """
    if is_api_request():
        return problem_response(error)
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
    return _error_page(error)


# Pages of the site's own for the errors a browser most often meets; any
# other status gets the general page with Werkzeug's description.
ERROR_PAGES = {404: "errors/not_found.html", 405: "errors/method.html"}


def _error_page(error: HTTPException):
    """Render a page of the site's own for an error on a browser route."""
    headers = [(k, v) for k, v in error.get_headers() if k != "Content-Type"]
    if isinstance(error, CSRFError):
        page = render_template("errors/form_expired.html", error=error)
    elif isinstance(error, RateLimitExceeded):
        wait = _wait_words(error)
        page = render_template("errors/too_many.html", wait=wait)
    elif error.code == 500:
        page = render_template("errors/server_error.html")
    elif error.code in ERROR_PAGES:
        page = render_template(ERROR_PAGES[error.code], error=error)
    else:
        page = render_template("errors/other.html", error=error)
    return page, error.code, headers


def _wait_words(error: RateLimitExceeded) -> str:
    """Say in words how long until the limit lets the client in again."""
    current = limiter.current_limit
    if current is not None and current.breached:
        seconds = max(1.0, current.reset_at - time.time())
    else:
        seconds = float(error.limit.limit.get_expiry())
    return format_timedelta(timedelta(seconds=seconds), locale="en_US")


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
