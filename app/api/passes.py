"""The API's passes and templates: issue, read, list, update, void, download.

A pass is named by its pass type identifier and serial number, as Wallet
names it: a serial is unique within a pass type, not across a merchant's.
Updates re-sign the pass and push to its devices before answering, so the
answer tells how the pushes went.
"""

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app, g, url_for
from marshmallow import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.http import http_date

from app.api import bp
from app.api.idempotency import PARAMETER as IDEMPOTENCY_KEY
from app.api.idempotency import idempotent
from app.api.problems import (
    PASS_DATA,
    SERIAL_TAKEN,
    VALIDATION,
    ApiProblem,
    problem_body,
)
from app.api.schemas import (
    MAX_DATA_KEYS,
    BulkCreateResultSchema,
    BulkCreateSchema,
    BulkUpdateItemSchema,
    BulkUpdateResultSchema,
    BulkUpdateSchema,
    PassChangeSchema,
    PassCreateSchema,
    PassListArgsSchema,
    PassPageSchema,
    PassSchema,
    PassUpdateSchema,
    RegistrationListSchema,
    TemplateListSchema,
)
from app.certificates import CertificateError
from app.downloads.links import create_link, link_url
from app.extensions import db
from app.formatting import device_hint, token_hint
from app.models import (
    DownloadLink,
    DownloadLinkPass,
    Pass,
    PassType,
    Template,
    utcnow,
)
from app.passes import queries, service
from app.passes.bulk.rows import PassRow, issue_passes
from app.passes.bundle import PassDataError, data_placeholders
from app.passes.validation import PassValidationError
from app.push.service import PushSummary, push_passes_now
from app.webhooks import events

log = logging.getLogger(__name__)

PASS_PATH = "/passes/<pass_type_identifier>/<serial_number>"
PKPASS = "application/vnd.apple.pkpass"
NOT_FOUND = "No pass with this pass type identifier and serial number is yours."


# Templates


@bp.route("/templates", methods=["GET"])
@bp.doc(operationId="listTemplates", summary="List the templates passes come from")
@bp.response(200, TemplateListSchema)
def list_templates():
    """Return the merchant's templates with the data keys each needs."""
    templates = db.session.scalars(
        select(Template)
        .where(Template.merchant_id == g.api_key.merchant_id)
        .order_by(Template.id)
    )
    return {
        "items": [
            {
                "id": template.id,
                "name": template.name,
                "style": template.style,
                "pass_type_identifier": template.pass_type.pass_type_identifier,
                "placeholders": data_placeholders(template.design),
            }
            for template in templates
        ]
    }


# Passes


@bp.route("/passes", methods=["GET"])
@bp.doc(operationId="listPasses", summary="List passes, newest first")
@bp.arguments(PassListArgsSchema, location="query")
@bp.response(200, PassPageSchema)
def list_passes(args: dict[str, Any]):
    """Return a page of passes; `next_cursor` leads to the next one."""
    filters = queries.PassFilters(
        template_id=args.get("template_id"), is_voided=args.get("voided")
    )
    after = int(args["after"]) if "after" in args else None

    passes, next_after = queries.newest_passes(
        g.api_key.merchant_id, filters, after, args["limit"]
    )
    return {
        "items": resources(passes),
        "next_cursor": None if next_after is None else str(next_after),
    }


@bp.route("/passes", methods=["POST"])
@bp.doc(
    operationId="createPass",
    summary="Issue a pass from a template",
    parameters=[IDEMPOTENCY_KEY],
)
@idempotent
@bp.arguments(PassCreateSchema)
@bp.response(201, PassSchema, description="The pass, with a new download link.")
def create_pass(args: dict[str, Any]):
    """Issue a pass with its data and give it a download link."""
    pass_ = issue(args, {})

    (resource,) = resources([pass_])
    log.info("pass %s issued by API key %s", pass_.id, g.api_key.id)
    return resource, 201, {"Location": resource["url"]}


@bp.route("/passes/bulk", methods=["POST"])
@bp.doc(
    operationId="createPasses",
    summary="Issue up to 100 passes at once",
    parameters=[IDEMPOTENCY_KEY],
)
@idempotent
@bp.arguments(BulkCreateSchema)
@bp.response(200, BulkCreateResultSchema, description="Each item's outcome.")
def create_passes(args: dict[str, Any]):
    """Issue each item that is valid; each bad one gets its own problem."""
    results: dict[int, dict[str, Any]] = {}
    # Items of one template in a row are issued together, in their order.
    runs: list[tuple[Template, list[PassRow]]] = []
    templates: dict[int, Template] = {}
    for index, item in enumerate(args["items"]):
        try:
            loaded = _load(PassCreateSchema(), item)
            template_id = loaded["template_id"]
            template = templates.get(template_id) or db.session.get(
                Template, template_id
            )
            if template is None or template.merchant_id != g.api_key.merchant_id:
                raise ApiProblem(
                    422,
                    "The request's input is not valid; `errors` names each field.",
                    type_=VALIDATION,
                    errors={
                        "json": {"template_id": ["You have no template with this id."]}
                    },
                )
        except ApiProblem as problem:
            results[index] = _failed(index, problem)
            continue
        templates[template_id] = template
        row = PassRow(
            line=index,
            data=loaded["data"],
            serial_number=loaded.get("serial_number") or "",
            customer_email=loaded.get("customer_email") or "",
        )
        if runs and runs[-1][0] is template:
            runs[-1][1].append(row)
        else:
            runs.append((template, [row]))

    issued = [row for template, rows in runs for row in issue_passes(template, rows)]
    created_ids = [row.pass_id for row in issued if row.pass_id is not None]
    passes = {
        pass_.id: pass_
        for pass_ in db.session.scalars(select(Pass).where(Pass.id.in_(created_ids)))
    }
    for row in issued:
        if row.pass_id is not None:
            results[row.line] = {
                "index": row.line,
                "status": 201,
                "pass_": passes[row.pass_id],
            }
        elif row.is_serial_taken:
            problem = ApiProblem(
                409,
                f"A pass with serial number {row.serial_number} exists.",
                type_=SERIAL_TAKEN,
            )
            results[row.line] = _failed(row.line, problem)
        else:
            problem = _data_problem(PassValidationError(row.errors))
            results[row.line] = _failed(row.line, problem)

    ordered = [results[index] for index in sorted(results)]
    created = _show_passes(ordered)
    log.info("%s passes issued in bulk by API key %s", created, g.api_key.id)
    return {"results": ordered, "created": created, "failed": len(ordered) - created}


@bp.route("/passes/bulk", methods=["PATCH"])
@bp.doc(operationId="updatePasses", summary="Change the data of up to 100 passes")
@bp.arguments(BulkUpdateSchema)
@bp.response(200, BulkUpdateResultSchema, description="Each item's outcome.")
def update_passes(args: dict[str, Any]):
    """Change each pass named, then re-sign and push them all in one go."""
    results = []
    changed: dict[int, Pass] = {}
    for index, item in enumerate(args["items"]):
        try:
            loaded = _load(BulkUpdateItemSchema(), item)
            pass_ = _find_pass(loaded["pass_type_identifier"], loaded["serial_number"])
            if pass_ is None:
                raise ApiProblem(404, NOT_FOUND)
            is_changed = change_data(pass_, loaded["data"], report=False)
        except ApiProblem as problem:
            results.append(_failed(index, problem))
            continue
        results.append({"index": index, "status": 200, "pass_": pass_})
        if is_changed:
            changed[pass_.id] = pass_

    # One webhook lookup, commit and job for the whole call, not one per pass.
    events.passes_updated(changed.values())
    pushes = push_passes_now(list(changed.values())).as_dict()
    updated = _show_passes(results)
    log.info("%s passes updated in bulk by API key %s", updated, g.api_key.id)
    return {
        "results": results,
        "updated": updated,
        "failed": len(results) - updated,
        "pushes": pushes,
    }


@bp.route(PASS_PATH, methods=["GET"])
@bp.doc(operationId="getPass", summary="Get one pass")
@bp.response(200, PassSchema)
def get_pass(pass_type_identifier: str, serial_number: str):
    """Return the pass."""
    pass_ = _pass_or_404(pass_type_identifier, serial_number)

    (resource,) = resources([pass_])
    return resource


@bp.route(PASS_PATH, methods=["PATCH"])
@bp.doc(operationId="updatePass", summary="Change a pass's data and push it")
@bp.arguments(PassUpdateSchema)
@bp.response(200, PassChangeSchema, description="The pass and how the pushes went.")
def update_pass(args: dict[str, Any], pass_type_identifier: str, serial_number: str):
    """Change the data, re-sign the pass and push it to its devices."""
    pass_ = _pass_or_404(pass_type_identifier, serial_number)

    changed = change_data(pass_, args["data"])
    pushes = push_passes_now([pass_] if changed else []).as_dict()

    log.info("pass %s updated by API key %s", pass_.id, g.api_key.id)
    (resource,) = resources([pass_])
    return {"pass_": resource, "pushes": pushes}


@bp.route(PASS_PATH + "/void", methods=["POST"])
@bp.doc(
    operationId="voidPass",
    summary="Void a pass and push it",
    description="Wallet then shows the pass as no longer valid. Voiding a voided "
    "pass changes nothing and pushes nothing.",
)
@bp.response(200, PassChangeSchema, description="The pass and how the pushes went.")
def void_pass(pass_type_identifier: str, serial_number: str):
    """Void the pass, re-sign it and push it to its devices."""
    pass_ = _pass_or_404(pass_type_identifier, serial_number)

    if pass_.is_voided:
        pushes = PushSummary()
    else:
        try:
            service.update_pass(pass_, is_voided=True, actor=_actor(), push=False)
        except (PassDataError, PassValidationError) as error:
            raise _data_problem(error) from error
        pushes = push_passes_now([pass_])
        log.info("pass %s voided by API key %s", pass_.id, g.api_key.id)

    (resource,) = resources([pass_])
    return {"pass_": resource, "pushes": pushes.as_dict()}


@bp.route(PASS_PATH + "/bundle", methods=["GET"])
@bp.doc(operationId="getPassBundle", summary="Download the signed .pkpass")
@bp.response(
    200,
    {"type": "string", "format": "binary"},
    content_type=PKPASS,
    description="The signed pass, as Wallet fetches it.",
)
def get_bundle(pass_type_identifier: str, serial_number: str):
    """Answer the pass's signed bundle."""
    pass_ = _pass_or_404(pass_type_identifier, serial_number)

    try:
        content = service.signed_bundle(pass_)
    except (CertificateError, PassDataError, PassValidationError) as error:
        db.session.rollback()
        raise ApiProblem(409, f"The pass cannot be signed: {error}") from error
    return Response(
        content,
        mimetype=PKPASS,
        headers={
            "Last-Modified": http_date(pass_.updated_at),
            "Content-Disposition": f'attachment; filename="{pass_.serial_number}'
            '.pkpass"',
            "Cache-Control": "no-store",
        },
    )


@bp.route(PASS_PATH + "/registrations", methods=["GET"])
@bp.doc(operationId="listPassRegistrations", summary="List the pass's devices")
@bp.response(200, RegistrationListSchema)
def list_registrations(pass_type_identifier: str, serial_number: str):
    """Return the devices registered for the pass's updates, newest first."""
    pass_ = _pass_or_404(pass_type_identifier, serial_number)

    return {
        "items": [
            {
                "device": device_hint(registration.device.library_identifier),
                "push_token": token_hint(registration.push_token),
                "registered_at": _utc(registration.created_at),
                "updated_at": _utc(registration.updated_at),
            }
            for registration in queries.registrations(pass_)
        ]
    }


# The work shared by the routes


def issue(args: dict[str, Any], templates: dict[int, Template]) -> Pass:
    """Issue a pass as the create arguments say and give it a download link.

    Raises ApiProblem for a template not the merchant's, a serial taken or
    data the template cannot use. `templates` caches templates by id.
    """
    template_id = args["template_id"]
    if template_id not in templates:
        template = db.session.get(Template, template_id)
        if template is None or template.merchant_id != g.api_key.merchant_id:
            raise ApiProblem(
                422,
                "The request's input is not valid; `errors` names each field.",
                type_=VALIDATION,
                errors={
                    "json": {"template_id": ["You have no template with this id."]}
                },
            )
        templates[template_id] = template

    try:
        pass_ = service.issue_pass(
            templates[template_id],
            args["data"],
            args.get("serial_number"),
            customer_email=args.get("customer_email"),
        )
    except (service.SerialTaken, IntegrityError) as error:
        # IntegrityError: another request issued the same serial meanwhile.
        db.session.rollback()
        raise ApiProblem(
            409,
            f"A pass with serial number {args.get('serial_number')} exists.",
            type_=SERIAL_TAKEN,
        ) from error
    except (PassDataError, PassValidationError) as error:
        db.session.rollback()
        raise _data_problem(error) from error

    create_link(pass_)
    return pass_


def change_data(pass_: Pass, changes: dict[str, Any], *, report: bool = True) -> bool:
    """Store the changed values over the pass's data, without pushing yet.

    Return False when the values are the pass's own already: nothing changed.
    With `report` False the caller records the pass.updated webhook event.
    """
    data = {**pass_.data, **changes}
    if len(data) > MAX_DATA_KEYS:
        raise ApiProblem(
            422,
            f"A pass holds at most {MAX_DATA_KEYS} values; with these changes it "
            f"would hold {len(data)}.",
            type_=PASS_DATA,
            errors={"json": {"data": [f"Give at most {MAX_DATA_KEYS} values."]}},
        )
    try:
        return service.update_pass(
            pass_,
            data,
            actor=_actor(),
            push=False,
            report=report,
        )
    except (PassDataError, PassValidationError) as error:
        raise _data_problem(error) from error


def _show_passes(results: list[dict[str, Any]]) -> int:
    """Put each bulk result's pass as the API shows it; return how many have one."""
    passes = {r["pass_"].id: r["pass_"] for r in results if "pass_" in r}
    shown = dict(zip(passes, resources(list(passes.values())), strict=True))
    with_pass = [result for result in results if "pass_" in result]
    for result in with_pass:
        result["pass_"] = shown[result["pass_"].id]
    return len(with_pass)


def resources(passes: list[Pass]) -> list[dict[str, Any]]:
    """Return the passes as the API shows them."""
    pass_ids = [pass_.id for pass_ in passes]
    devices = queries.device_counts(pass_ids)
    downloads = _download_urls(pass_ids)
    public_url = current_app.config["PUBLIC_URL"]
    found = []
    for pass_ in passes:
        names = {
            "pass_type_identifier": pass_.pass_type.pass_type_identifier,
            "serial_number": pass_.serial_number,
        }
        resource = {
            **names,
            "template_id": pass_.template_id,
            "data": pass_.data,
            "customer_email": pass_.customer_email,
            "voided": pass_.is_voided,
            "devices": devices.get(pass_.id, 0),
            "created_at": _utc(pass_.created_at),
            "updated_at": _utc(pass_.updated_at),
            "url": public_url + url_for("api.get_pass", **names),
            "bundle_url": public_url + url_for("api.get_bundle", **names),
            "download_url": downloads.get(pass_.id),
        }
        found.append(resource)
    return found


def _download_urls(pass_ids: list[int]) -> dict[int, str]:
    """Return the newest working download link's URL of each pass that has one."""
    if not pass_ids:
        return {}
    now = utcnow()
    rows = db.session.execute(
        select(DownloadLinkPass.pass_id, DownloadLink)
        .join(DownloadLink, DownloadLink.id == DownloadLinkPass.link_id)
        .where(
            DownloadLinkPass.pass_id.in_(pass_ids),
            DownloadLink.revoked_at.is_(None),
            or_(DownloadLink.expires_at.is_(None), DownloadLink.expires_at > now),
        )
        .order_by(DownloadLink.id)
    )
    return {pass_id: link_url(link) for pass_id, link in rows}


def _find_pass(pass_type_identifier: str, serial_number: str) -> Pass | None:
    """Return the merchant's pass so named, or None."""
    return db.session.scalar(
        select(Pass)
        .join(Pass.pass_type)
        .where(
            PassType.merchant_id == g.api_key.merchant_id,
            PassType.pass_type_identifier == pass_type_identifier,
            Pass.serial_number == serial_number,
        )
    )


def _pass_or_404(pass_type_identifier: str, serial_number: str) -> Pass:
    pass_ = _find_pass(pass_type_identifier, serial_number)
    if pass_ is None:
        raise ApiProblem(404, NOT_FOUND)
    return pass_


def _load(schema, item: dict[str, Any]) -> dict[str, Any]:
    """Load one bulk item, raising ApiProblem as a whole request would."""
    try:
        return schema.load(item)
    except ValidationError as error:
        raise ApiProblem(
            422,
            "The item is not valid; `errors` names each field.",
            type_=VALIDATION,
            errors={"json": error.messages},
        ) from error


def _failed(index: int, problem: ApiProblem) -> dict[str, Any]:
    body = problem_body(
        problem.code, problem.description, problem.type_, **problem.extensions
    )
    return {"index": index, "status": problem.code, "problem": body}


def _data_problem(error: PassDataError | PassValidationError) -> ApiProblem:
    messages = list(getattr(error, "errors", None) or [str(error)])
    return ApiProblem(
        422,
        "The pass cannot be made with this data: " + "; ".join(messages),
        type_=PASS_DATA,
        errors={"json": {"data": messages}},
    )


def _actor() -> str:
    return f"api_key:{g.api_key.id}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)
