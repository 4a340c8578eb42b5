"""Error answers: bare status codes for Wallet, plain pages elsewhere."""

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected_error)


def handle_http_error(error: HTTPException):
    if request.blueprint == "wallet":
        # Wallet reads only the status; Apple's service answers no body.
        return "", error.code
    return error


def handle_unexpected_error(error: Exception):
    db.session.rollback()
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return handle_http_error(InternalServerError())
