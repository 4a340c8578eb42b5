"""Finding a merchant's passes: the filters and newest-first pages they share.

The dashboard's pass list and the merchant API list passes the same way. A
pass has no merchant column; it belongs to the merchant of its pass type.
"""

import json
import re
from dataclasses import dataclass

from sqlalchemy import Select, Text, and_, cast, exists, false, func, or_, select
from sqlalchemy.orm import contains_eager

from app.extensions import db
from app.models import Pass, PassType, Registration

# The characters a serial number may hold (app.passes.service.SERIAL_NUMBER).
SERIAL_PREFIX = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Customer emails are searched by a prefix of printable ASCII characters.
EMAIL_PREFIX = re.compile(r"[!-~]{1,320}")


@dataclass(frozen=True)
class PassFilters:
    """What the list is narrowed to; None or "" means no narrowing."""

    # The start of the serial number or of the customer email.
    serial_prefix: str = ""
    text: str = ""
    template_id: int | None = None
    is_voided: bool | None = None
    has_devices: bool | None = None

    def query_args(self) -> dict[str, str]:
        """Return the filters as the dashboard list's query string arguments."""
        yes_no = {True: "yes", False: "no", None: ""}
        args = {
            "serial": self.serial_prefix,
            "text": self.text,
            "template": "" if self.template_id is None else str(self.template_id),
            "voided": yes_no[self.is_voided],
            "devices": yes_no[self.has_devices],
        }
        return {name: value for name, value in args.items() if value}


def own_pass_type_ids(merchant_id: int) -> list[int]:
    """Return the ids of the merchant's pass types."""
    return list(
        db.session.scalars(
            select(PassType.id).where(PassType.merchant_id == merchant_id)
        )
    )


def newest_passes(
    merchant_id: int, filters: PassFilters, after: int | None, size: int
) -> tuple[list[Pass], int | None]:
    """Return a page of the merchant's passes, newest first, older than `after`.

    The second value is the cursor of the next page (this page's last id), or
    None on the last page. Keyset pagination on the primary key: every page
    costs the same however deep it is, and a pass issued meanwhile never
    shifts a pass onto two pages.
    """
    if filters.serial_prefix and not _prefix_conditions(filters.serial_prefix):
        # No serial number or email can start with it, so no query is needed.
        return [], None
    query = filtered_passes(own_pass_type_ids(merchant_id), filters)
    query = query.order_by(Pass.id.desc())
    if after is not None:
        query = query.where(Pass.id < after)
    # One more than a page tells whether a next page exists.
    found = list(db.session.scalars(query.limit(size + 1)))

    passes = found[:size]
    return passes, passes[-1].id if len(found) > size else None


def filtered_passes(pass_type_ids: list[int], filters: PassFilters) -> Select:
    """Return a query of the passes of these pass types that match the filters."""
    # The ids are listed rather than selected in a subquery: given a list,
    # SQLite's planner also uses the (pass_type_id, serial_number) index.
    query = select(Pass).where(Pass.pass_type_id.in_(pass_type_ids))
    if filters.serial_prefix:
        query = query.where(or_(false(), *_prefix_conditions(filters.serial_prefix)))
    if filters.template_id is not None:
        query = query.where(Pass.template_id == filters.template_id)
    if filters.is_voided is not None:
        query = query.where(Pass.is_voided == filters.is_voided)
    if filters.has_devices is not None:
        registered = exists().where(Registration.pass_id == Pass.id)
        query = query.where(registered if filters.has_devices else ~registered)
    if filters.text:
        query = query.where(_data_contains(filters.text))
    return query


def registrations(pass_: Pass) -> list[Registration]:
    """Return the pass's registrations with their devices, newest first."""
    return list(
        db.session.scalars(
            select(Registration)
            .join(Registration.device)
            .options(contains_eager(Registration.device))
            .where(Registration.pass_id == pass_.id)
            .order_by(Registration.id.desc())
        )
    )


def _prefix_conditions(prefix: str) -> list:
    """Return a condition per column (serial, email) the prefix could start."""
    conditions = []
    if SERIAL_PREFIX.fullmatch(prefix):
        conditions.append(_starts_with(Pass.serial_number, prefix))
    if EMAIL_PREFIX.fullmatch(prefix):
        # Emails are stored in lower case (app.passes.service.issue_pass).
        conditions.append(_starts_with(Pass.customer_email, prefix.lower()))
    return conditions


def _starts_with(column, prefix: str):
    # A range on the column lets the (pass_type_id, column) index find the
    # rows; LIKE 'abc%' cannot use it unless the index is in the C collation.
    # The range is exact where text sorts by code point (SQLite, PostgreSQL in
    # C or C.UTF-8); the LIKE keeps out what a linguistic collation would let
    # into the range. Prefixes are ASCII, so the bound stays a valid character.
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(
        column >= prefix,
        column < upper,
        column.startswith(prefix, autoescape=True),
    )


def _data_contains(text: str):
    # The JSON is stored with non-ASCII characters and quotes escaped, so the
    # text is looked for in the same form.
    escaped = json.dumps(text)[1:-1]
    return func.lower(cast(Pass.data, Text)).contains(escaped.lower(), autoescape=True)


def device_counts(pass_ids: list[int]) -> dict[int, int]:
    """Return how many devices registered each pass that has any, by pass id."""
    if not pass_ids:
        return {}
    return dict(
        db.session.execute(
            select(Registration.pass_id, func.count(Registration.id))
            .where(Registration.pass_id.in_(pass_ids))
            .group_by(Registration.pass_id)
        ).all()
    )
