"""The merchant REST API under /api/v1, its OpenAPI document and its docs page.

Every call but the document and the docs needs `Authorization: Bearer <key>`
with one of the merchant's API keys (made in the dashboard); what a key sees
is its merchant's alone. Errors are RFC 9457 problems (app.api.problems).
"""

import http
import json

from flask import Flask, current_app, g, request
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response

from app.api import keys
from app.api.problems import MEDIA_TYPE, VALIDATION, ApiProblem
from app.api.schemas import ProblemSchema
from app.extensions import csrf, limiter
from app.models import ApiKey

PREFIX = "/api/v1"
# Where a request's key lookup is kept. The WSGI environ lives as long as the
# request; `g` can outlive it (tests push one app context for many requests).
KEY_LOOKUP = "passline.api_key"

SPEC_SETTINGS = {
    "API_TITLE": "Passline merchant API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": PREFIX,
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Swagger UI's files are vendored in static/, never loaded from a CDN.
    "OPENAPI_SWAGGER_UI_URL": "/static/vendor/swagger-ui/",
    "API_SPEC_OPTIONS": {
        "info": {
            "description": (
                "Issue, update and void Apple Wallet passes. Authenticate with "
                "`Authorization: Bearer <key>` using an API key from the "
                "dashboard. A pass is named by its pass type identifier and "
                "serial number. Errors are RFC 9457 problem details "
                "(`application/problem+json`)."
            )
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key made in the dashboard (pl_...).",
                }
            }
        },
        "security": [{"apiKey": []}],
    },
}

bp = Blueprint(
    "api",
    __name__,
    url_prefix=PREFIX,
    description="Passes and templates of the merchant whose key is used.",
)


class PasslineApi(Api):
    """flask-smorest's Api, documenting every error as a problem."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        # app.errors answers every error, and hands /api ones to app.api.problems.
        pass

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def request_key() -> ApiKey | None:
    """Return the working key the Authorization header names, or None.

    Looked up once per request: the rate limit counts by it before the
    authentication checks it.
    """
    if KEY_LOOKUP not in request.environ:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        api_key = None
        if scheme.lower() == "bearer":
            api_key = keys.find_active_key(token.strip())
        request.environ[KEY_LOOKUP] = api_key
    return request.environ[KEY_LOOKUP]


@bp.before_request
def authenticate() -> None:
    """Find the merchant's key in the Authorization header, or answer 401."""
    api_key = request_key()
    if api_key is None:
        raise ApiProblem(
            401,
            "Send `Authorization: Bearer <key>` with a working API key "
            "(the dashboard's API keys page makes them).",
            headers={"WWW-Authenticate": 'Bearer realm="Passline API"'},
        )
    keys.mark_used(api_key)
    g.api_key = api_key


@bp.before_request
def refuse_unstorable_json() -> None:
    """Refuse JSON nested past what a parser follows, or holding lone surrogates.

    Both are valid JSON text that no pass can hold: an escape such as \\ud800
    decodes to half a character, which neither UTF-8 nor a database column
    stores. Malformed JSON is left to the schemas, which name the problem.
    """
    if not request.is_json:
        return
    try:
        json.dumps(
            json.loads(request.get_data(cache=True)), ensure_ascii=False
        ).encode()
    except RecursionError:
        raise ApiProblem(
            400, "The JSON is nested too deeply to read.", type_=VALIDATION
        ) from None
    except UnicodeEncodeError:
        raise ApiProblem(
            400,
            "The JSON holds an unpaired surrogate escape (\\ud800 to \\udfff), "
            "which is half a character, not text.",
            type_=VALIDATION,
        ) from None
    except ValueError:
        return


def rate_limit_key() -> str:
    """Count requests per working API key, else per client address.

    Made-up or revoked keys share their address's count, so inventing headers
    neither escapes the limit nor adds counters without end.
    """
    api_key = request_key()
    if api_key is not None:
        return f"api-key:{api_key.id}"
    return "api-address:" + (request.remote_addr or "")


def init_app(app: Flask) -> None:
    """Register the API blueprint, its OpenAPI document and its docs page."""
    for name, value in SPEC_SETTINGS.items():
        app.config.setdefault(name, value)
    api = PasslineApi(app)
    # API clients authenticate each call with a bearer key; no cookies.
    csrf.exempt(bp)
    api.register_blueprint(bp)


limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=rate_limit_key)(bp)

from app.api import passes  # noqa: E402, F401  (registers the routes on bp)
