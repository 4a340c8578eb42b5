"""Errors of the merchant API as RFC 9457 problem details.

Every error under /api answers `application/problem+json` with `type`,
`title`, `status`, `detail` and `instance`; invalid input adds `errors`, the
messages of each field by where it was sent (json, query, headers).
"""

import json
from http import HTTPStatus
from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException

MEDIA_TYPE = "application/problem+json"
# Problem types of our own; others are "about:blank" and mean the status alone.
VALIDATION = "urn:passline:problem:invalid-request"
PASS_DATA = "urn:passline:problem:invalid-pass-data"
SERIAL_TAKEN = "urn:passline:problem:serial-taken"
IDEMPOTENCY_MISMATCH = "urn:passline:problem:idempotency-key-reused"
IDEMPOTENCY_IN_PROGRESS = "urn:passline:problem:idempotency-key-in-use"
SERVER_ERROR = "The server could not answer this request; the error is logged."


class ApiProblem(HTTPException):
    """An HTTP error carrying a problem type, a detail and extension members."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ):
        super().__init__(detail)
        self.code = status
        self.type_ = type_
        self.extensions = extensions
        self.extra_headers = headers or {}


def problem_body(
    status: int, detail: str | None, type_: str = "about:blank", **extensions: Any
) -> dict[str, Any]:
    """Return a problem details object for the current request."""
    body = {
        "type": type_,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).description,
        "instance": request.path,
    }
    body.update(extensions)
    return body


def problem_response(error: HTTPException) -> Response:
    """Turn any HTTP error raised while serving the API into a problem answer."""
    code = error.code or 500
    headers = {
        k: v for k, v in error.get_headers() if k.lower() not in ("content-type",)
    }
    if isinstance(error, ApiProblem):
        body = problem_body(code, error.description, error.type_, **error.extensions)
        headers.update(error.extra_headers)
    elif getattr(error, "data", None) and "messages" in error.data:
        # webargs (through flask-smorest) refused the request's input.
        body = problem_body(
            code,
            "The request's input is not valid; `errors` names each field.",
            VALIDATION,
            errors=error.data["messages"],
        )
        headers.update(error.data.get("headers") or {})
    else:
        detail = error.description if code < 500 else SERVER_ERROR
        body = problem_body(code, detail)
    headers.pop("Content-Length", None)
    return Response(json.dumps(body), code, headers=headers, mimetype=MEDIA_TYPE)


def is_api_request() -> bool:
    """Return True for a request to the API, matched to a route or not."""
    if request.blueprint in ("api", "api-docs"):
        return True
    return request.path == "/api" or request.path.startswith("/api/")
