"""What the merchant API reads and answers, as marshmallow schemas.

The OpenAPI document is generated from these (flask-smorest and apispec), so
their descriptions are the API's reference.
"""

import math
import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from app.converters import MAX_ID
from app.passes.bundle import CONTROL_CHARACTERS, MAX_VALUE_LENGTH
from app.passes.service import SERIAL_NUMBER
from app.push.service import (
    BAD_DEVICE_TOKEN,
    CERTIFICATE_REJECTED,
    FAILED,
    SENT,
    UNREGISTERED,
)

MAX_DATA_KEYS = 100
MAX_BULK_ITEMS = 100
PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
PUSH_OUTCOMES = (SENT, FAILED, UNREGISTERED, BAD_DEVICE_TOKEN, CERTIFICATE_REJECTED)


class PassValue(fields.Field):
    """A value of pass data: text, or a number that stays a number in pass.json."""

    def _deserialize(self, value: Any, attr, data, **kwargs) -> str | int | float:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ValidationError("Give text or a number.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError("Give a finite number.")
        if isinstance(value, str):
            if len(value) > MAX_VALUE_LENGTH:
                raise ValidationError(f"Give at most {MAX_VALUE_LENGTH} characters.")
            if CONTROL_CHARACTERS.search(value):
                raise ValidationError("Control characters are not allowed.")
        return value


def _data_field(metadata: dict, **kwargs) -> fields.Dict:
    return fields.Dict(
        keys=fields.String(
            validate=[
                validate.Length(1, 100),
                validate.Regexp(
                    r"[A-Za-z_][A-Za-z0-9_.-]*\Z",
                    error="A key is a placeholder's name: letters, digits, "
                    "_ . or -, not starting with a digit or a dot.",
                ),
            ]
        ),
        values=PassValue(
            metadata={
                "oneOf": [
                    {"type": "string", "maxLength": MAX_VALUE_LENGTH},
                    {"type": "number"},
                ]
            }
        ),
        validate=_at_most_keys,
        metadata={"maxProperties": MAX_DATA_KEYS, **metadata},
        **kwargs,
    )


def _at_most_keys(data: dict) -> None:
    if len(data) > MAX_DATA_KEYS:
        raise ValidationError(f"Give at most {MAX_DATA_KEYS} values.")


def _serial_field(description: str | None = None, **kwargs) -> fields.String:
    return fields.String(
        validate=validate.Regexp(
            # Regexp matches at the start only; \Z makes it the whole value.
            SERIAL_NUMBER.pattern + r"\Z",
            error="A serial number is 1 to 64 letters, digits, dots, dashes "
            "or underscores.",
        ),
        metadata={
            "pattern": "^[A-Za-z0-9._-]{1,64}$",
            "example": "A1B2C3",
            **({"description": description} if description else {}),
        },
        **kwargs,
    )


class ObjectsOnly(fields.List):
    """A list documented with its items' schema but loaded as plain objects.

    Bulk calls check each item on their own, so one bad item fails only itself.
    """

    def _deserialize(self, value: Any, attr, data, **kwargs) -> list[dict]:
        if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
            raise ValidationError("Give a list of objects.")
        return value


# Requests


class PassCreateSchema(Schema):
    template_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "The template to issue from (GET /api/v1/templates)."},
    )
    data = _data_field(
        load_default=dict,
        metadata={
            "description": "A value for each of the template's placeholders.",
            "example": {"holder": "Ann", "seat": "A1"},
        },
    )
    serial_number = _serial_field("Chosen by the server when left out.")
    customer_email = fields.Email(
        allow_none=True,
        validate=validate.Length(max=320),
        metadata={"description": "Kept with the pass; nothing is sent to it."},
    )


class PassUpdateSchema(Schema):
    data = _data_field(
        required=True,
        metadata={
            "description": "The values to change; keys left out keep their value.",
            "example": {"seat": "B7"},
        },
    )


class BulkCreateSchema(Schema):
    items = ObjectsOnly(
        fields.Nested(PassCreateSchema),
        required=True,
        validate=validate.Length(1, MAX_BULK_ITEMS),
    )


class BulkUpdateItemSchema(PassUpdateSchema):
    pass_type_identifier = fields.String(
        required=True,
        validate=validate.Regexp(
            r"[!-~]{1,255}\Z", error="Give the pass type identifier, as pass.com.x."
        ),
        metadata={"pattern": "^[!-~]{1,255}$", "example": "pass.com.example.tickets"},
    )
    serial_number = _serial_field(required=True)


class BulkUpdateSchema(Schema):
    items = ObjectsOnly(
        fields.Nested(BulkUpdateItemSchema),
        required=True,
        validate=validate.Length(1, MAX_BULK_ITEMS),
    )


def _cursor(value: str) -> None:
    if not re.fullmatch(r"[0-9]{1,10}", value) or int(value) > MAX_ID:
        raise ValidationError("Not a cursor of this list.")


class PassListArgsSchema(Schema):
    limit = fields.Integer(
        load_default=PAGE_SIZE, validate=validate.Range(1, MAX_PAGE_SIZE)
    )
    after = fields.String(
        validate=_cursor,
        metadata={
            "description": "The `next_cursor` of the previous page.",
            "pattern": "^[0-9]{1,10}$",
        },
    )
    template_id = fields.Integer(validate=validate.Range(1, MAX_ID))
    voided = fields.Boolean()


# Answers


class PassSchema(Schema):
    pass_type_identifier = fields.String(required=True)
    serial_number = fields.String(required=True)
    template_id = fields.Integer(required=True)
    data = fields.Dict(required=True)
    customer_email = fields.String(allow_none=True, required=True)
    voided = fields.Boolean(required=True)
    devices = fields.Integer(
        required=True, metadata={"description": "Devices registered for updates."}
    )
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(
        required=True, metadata={"description": "The bundle's Last-Modified."}
    )
    url = fields.String(required=True, metadata={"description": "This resource."})
    bundle_url = fields.String(
        required=True, metadata={"description": "The signed .pkpass (API key needed)."}
    )
    download_url = fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "The newest working download link customers open, if any."
        },
    )


class PassPageSchema(Schema):
    items = fields.List(fields.Nested(PassSchema), required=True)
    next_cursor = fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Pass as `after` for the next page; null at the end."},
    )


class PushSummarySchema(Schema):
    push_tokens = fields.Integer(
        required=True, metadata={"description": "Push tokens the change went to."}
    )
    sent = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    unregistered = fields.Integer(
        required=True,
        metadata={"description": "Devices gone; their registrations too."},
    )
    bad_device_token = fields.Integer(required=True)
    certificate_rejected = fields.Integer(required=True)


class PassChangeSchema(Schema):
    pass_ = fields.Nested(PassSchema, data_key="pass", required=True)
    pushes = fields.Nested(PushSummarySchema, required=True)


class ProblemSchema(Schema):
    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String(required=True)
    errors = fields.Raw(
        metadata={"description": "Messages per field, by where it was sent."}
    )


class BulkResultSchema(Schema):
    index = fields.Integer(required=True)
    status = fields.Integer(required=True)
    pass_ = fields.Nested(PassSchema, data_key="pass")
    problem = fields.Nested(ProblemSchema)


class BulkCreateResultSchema(Schema):
    results = fields.List(fields.Nested(BulkResultSchema), required=True)
    created = fields.Integer(required=True)
    failed = fields.Integer(required=True)


class BulkUpdateResultSchema(Schema):
    results = fields.List(fields.Nested(BulkResultSchema), required=True)
    updated = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    pushes = fields.Nested(PushSummarySchema, required=True)


class RegistrationSchema(Schema):
    device = fields.String(
        required=True, metadata={"description": "The device's last 6 characters."}
    )
    push_token = fields.String(
        required=True, metadata={"description": "The push token's last 4 characters."}
    )
    registered_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class RegistrationListSchema(Schema):
    items = fields.List(fields.Nested(RegistrationSchema), required=True)


class TemplateSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    style = fields.String(required=True)
    pass_type_identifier = fields.String(required=True)
    placeholders = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The data keys a pass of the template needs."},
    )


class TemplateListSchema(Schema):
    items = fields.List(fields.Nested(TemplateSchema), required=True)
