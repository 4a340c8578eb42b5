"""What the pass pages show: one merchant's passes, a page at a time, and one pass.

A pass has no merchant column; it belongs to the merchant of its pass type.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import abort
from sqlalchemy import Select, Text, and_, cast, exists, false, func, or_, select

from app.extensions import db
from app.models import (
    Device,
    DownloadLink,
    DownloadLinkPass,
    Pass,
    PassType,
    PushAttempt,
    Registration,
    RegistrationRemoval,
    Template,
    WalletLogEntry,
)

PAGE_SIZE = 50
RECENT_PUSHES = 20
RECENT_REMOVALS = 20
RECENT_LOG_LINES = 50
SUMMARY_LENGTH = 80
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
        """Return the filters as the list page's query string arguments."""
        yes_no = {True: "yes", False: "no", None: ""}
        args = {
            "serial": self.serial_prefix,
            "text": self.text,
            "template": "" if self.template_id is None else str(self.template_id),
            "voided": yes_no[self.is_voided],
            "devices": yes_no[self.has_devices],
        }
        return {name: value for name, value in args.items() if value}


@dataclass(frozen=True)
class PassRow:
    pass_: Pass
    template_name: str
    devices: int
    summary: str


@dataclass(frozen=True)
class PassPage:
    rows: list[PassRow] = field(default_factory=list)
    # The cursor of the next page: the id of this page's last pass.
    next_after: int | None = None


def own_pass_type_ids(merchant_id: int) -> list[int]:
    """Return the ids of the merchant's pass types."""
    return list(
        db.session.scalars(
            select(PassType.id).where(PassType.merchant_id == merchant_id)
        )
    )


def owned_pass_or_404(pass_id: int, merchant_id: int) -> Pass:
    """Return the pass if its pass type is the merchant's, or answer 404."""
    found = db.session.get(Pass, pass_id)
    if found is None or found.pass_type.merchant_id != merchant_id:
        abort(404)
    return found


def templates(merchant_id: int) -> list[Template]:
    """Return the merchant's templates by name, for the template filter."""
    return list(
        db.session.scalars(
            select(Template)
            .where(Template.merchant_id == merchant_id)
            .order_by(Template.name, Template.id)
        )
    )


def pass_page(
    merchant_id: int,
    filters: PassFilters,
    after: int | None = None,
    size: int = PAGE_SIZE,
) -> PassPage:
    """Return a page of the merchant's passes, newest first, older than `after`.

    Keyset pagination on the primary key: every page costs the same however
    deep it is, and a pass issued meanwhile never shifts a pass onto two pages.
    """
    if filters.serial_prefix and not _prefix_conditions(filters.serial_prefix):
        # No serial number or email can start with it, so no query is needed.
        return PassPage()
    query = filtered_passes(own_pass_type_ids(merchant_id), filters)
    query = query.order_by(Pass.id.desc())
    if after is not None:
        query = query.where(Pass.id < after)
    # One more than a page tells whether a next page exists.
    found = list(db.session.scalars(query.limit(size + 1)))

    passes, more = found[:size], len(found) > size
    names = _template_names({p.template_id for p in passes})
    devices = _device_counts([p.id for p in passes])
    rows = [
        PassRow(p, names[p.template_id], devices.get(p.id, 0), data_summary(p.data))
        for p in passes
    ]
    return PassPage(rows, passes[-1].id if more else None)


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


def _template_names(template_ids: set[int]) -> dict[int, str]:
    if not template_ids:
        return {}
    return dict(
        db.session.execute(
            select(Template.id, Template.name).where(
                Template.id.in_(sorted(template_ids))
            )
        ).all()
    )


def _device_counts(pass_ids: list[int]) -> dict[int, int]:
    if not pass_ids:
        return {}
    return dict(
        db.session.execute(
            select(Registration.pass_id, func.count(Registration.id))
            .where(Registration.pass_id.in_(pass_ids))
            .group_by(Registration.pass_id)
        ).all()
    )


def data_summary(data: dict[str, Any]) -> str:
    """Return the pass data's values on one line, cut to fit a table cell.

    Empty values are left out, so a pass without data shows nothing rather
    than a row of commas.
    """
    line = ", ".join(str(v) for v in data.values() if v is not None and str(v))
    if len(line) <= SUMMARY_LENGTH:
        return line
    return line[: SUMMARY_LENGTH - 1] + "…"


def registrations(pass_: Pass) -> list[Registration]:
    """Return the pass's registrations with their devices, newest first."""
    return list(
        db.session.scalars(
            select(Registration)
            .join(Registration.device)
            .where(Registration.pass_id == pass_.id)
            .order_by(Registration.id.desc())
        )
    )


def recent_removals(
    pass_: Pass, limit: int = RECENT_REMOVALS
) -> list[RegistrationRemoval]:
    """Return the pass's latest removed registrations, newest first."""
    return list(
        db.session.scalars(
            select(RegistrationRemoval)
            .where(RegistrationRemoval.pass_id == pass_.id)
            .order_by(RegistrationRemoval.id.desc())
            .limit(limit)
        )
    )


def recent_pushes(
    pass_: Pass, device_ids: list[int], limit: int = RECENT_PUSHES
) -> list[tuple[PushAttempt, str]]:
    """Return the latest pushes to the devices, with each device's identifier.

    Only pushes made with the pass's own pass type count: a phone also holds
    other merchants' passes, and their pushes are none of this merchant's.
    """
    if not device_ids:
        return []
    return [
        (attempt, library_identifier)
        for attempt, library_identifier in db.session.execute(
            select(PushAttempt, Device.library_identifier)
            .join(Device, Device.id == PushAttempt.device_id)
            .where(PushAttempt.device_id.in_(device_ids))
            .where(PushAttempt.pass_type_id == pass_.pass_type_id)
            .order_by(PushAttempt.id.desc())
            .limit(limit)
        )
    ]


def wallet_log(pass_: Pass, limit: int = RECENT_LOG_LINES) -> list[WalletLogEntry]:
    """Return the Wallet log lines that name the pass, newest first."""
    return list(
        db.session.scalars(
            select(WalletLogEntry)
            .where(WalletLogEntry.pass_id == pass_.id)
            .order_by(WalletLogEntry.id.desc())
            .limit(limit)
        )
    )


def download_links(pass_: Pass) -> list[DownloadLink]:
    """Return the links that hand out the pass, its order's too, newest first."""
    return list(
        db.session.scalars(
            select(DownloadLink)
            .join(DownloadLink.items)
            .where(DownloadLinkPass.pass_id == pass_.id)
            .order_by(DownloadLink.id.desc())
        )
    )


def download_link_or_404(pass_: Pass, link_id: int) -> DownloadLink:
    """Return the link if it hands out the pass, or answer 404."""
    link = db.session.scalar(
        select(DownloadLink)
        .join(DownloadLink.items)
        .where(DownloadLink.id == link_id, DownloadLinkPass.pass_id == pass_.id)
    )
    if link is None:
        abort(404)
    return link
