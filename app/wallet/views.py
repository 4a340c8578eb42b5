"""The five PassKit web service endpoints, exactly as Apple specifies them."""

import hmac
import re
from datetime import UTC

from flask import Response, abort, request

from app.models import Pass
from app.passes.bundle import PKPASS_MIME
from app.passes.service import signed_bundle
from app.wallet import bp, registrations

# Wallet sends 32 hex characters; anything printable up to the column size
# is kept, so a future format still registers.
LIBRARY_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
PUSH_TOKEN = re.compile(r"^[0-9A-Fa-f]{16,200}$")
# A tag is a decimal number; longer ones cannot be ours.
TAG = re.compile(r"^[0-9]{1,18}$")
_NO_TOKEN = "x" * 32


def authenticated_pass(pass_type_identifier: str, serial_number: str) -> Pass:
    """Return the pass if the request carries its ApplePass token, else 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    pass_ = registrations.find_pass(pass_type_identifier, serial_number)
    expected = pass_.authentication_token if pass_ else _NO_TOKEN
    # Compared even for an unknown pass, so timing tells nothing about either.
    matches = hmac.compare_digest(token.strip().encode(), expected.encode())
    if pass_ is None or scheme != "ApplePass" or not matches:
        abort(401)
    return pass_


def _json_body():
    """Return the body parsed as JSON whatever its Content-Type, or None."""
    try:
        return request.get_json(force=True, silent=True)
    except RecursionError:
        # Nesting deeper than the parser's stack is as malformed as bad syntax.
        return None


# Wallet's paths are exact: merging "//" would shift a missing segment into
# the next one and reach another endpoint.
@bp.post(
    "/v1/devices/<device_id>/registrations/<pass_type_id>/<serial>",
    merge_slashes=False,
)
def register(device_id: str, pass_type_id: str, serial: str):
    """Subscribe the device to the pass (PassKit register): 201 new, 200 known."""
    pass_ = authenticated_pass(pass_type_id, serial)
    body = _json_body()
    push_token = body.get("pushToken") if isinstance(body, dict) else None
    if not isinstance(push_token, str) or not PUSH_TOKEN.fullmatch(push_token):
        abort(400)
    if not LIBRARY_ID.fullmatch(device_id):
        abort(400)

    created = registrations.register_device(device_id, pass_, push_token)
    return "", 201 if created else 200


@bp.delete(
    "/v1/devices/<device_id>/registrations/<pass_type_id>/<serial>",
    merge_slashes=False,
)
def unregister(device_id: str, pass_type_id: str, serial: str):
    """Unregister the device from the pass (PassKit unregister): 200, known or not."""
    pass_ = authenticated_pass(pass_type_id, serial)

    registrations.unregister_device(device_id, pass_)
    return "", 200


@bp.get("/v1/devices/<device_id>/registrations/<pass_type_id>", merge_slashes=False)
def serials(device_id: str, pass_type_id: str):
    """List serials changed since the tag (PassKit updated serials): 200, or 204."""
    since = request.args.get("passesUpdatedSince", "")
    # An unknown tag is answered like none: the device gets every pass.
    since_tag = int(since) if TAG.fullmatch(since) else None

    found = registrations.updated_serials(device_id, pass_type_id, since_tag)
    registrations.note_device_check(device_id)
    if found is None:
        return "", 204
    serial_numbers, last_tag = found
    return {"serialNumbers": serial_numbers, "lastUpdated": str(last_tag)}


@bp.get("/v1/passes/<pass_type_id>/<serial>", merge_slashes=False)
def latest_pass(pass_type_id: str, serial: str):
    """Send the signed pass (PassKit latest pass): 200, or 304 if not modified since."""
    pass_ = authenticated_pass(pass_type_id, serial)
    modified_at = pass_.updated_at

    since = request.if_modified_since
    # Compared as aware times: a date in another zone names the same instant.
    if since is not None and modified_at.replace(tzinfo=UTC) <= since:
        response = Response(status=304)
    else:
        response = Response(signed_bundle(pass_), mimetype=PKPASS_MIME)
    response.last_modified = modified_at
    response.cache_control.no_cache = True
    registrations.note_pass_fetch(pass_)
    return response


@bp.post("/v1/log", merge_slashes=False)
def wallet_log():
    """Keep the errors Wallet reports (PassKit log): 200, or 400 if malformed."""
    body = _json_body()
    lines = body.get("logs") if isinstance(body, dict) else None
    if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
        abort(400)

    registrations.store_logs(lines)
    return "", 200
