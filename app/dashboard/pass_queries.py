"""What the pass pages show: one merchant's passes, a page at a time, and one pass.

A pass has no merchant column; it belongs to the merchant of its pass type.
The list's filters and query live in app.passes.queries, shared with the API.
"""

from dataclasses import dataclass, field
from typing import Any

from flask import abort
from sqlalchemy import select

from app.extensions import db
from app.models import (
    Device,
    DownloadLink,
    DownloadLinkPass,
    Pass,
    PushAttempt,
    RegistrationRemoval,
    Template,
    WalletLogEntry,
)
from app.passes import queries
from app.passes.queries import PassFilters, newest_passes

PAGE_SIZE = 50
RECENT_PUSHES = 20
RECENT_REMOVALS = 20
RECENT_LOG_LINES = 50
SUMMARY_LENGTH = 80


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
    """Return a page of the merchant's passes, newest first, older than `after`."""
    passes, next_after = newest_passes(merchant_id, filters, after, size)
    names = _template_names({p.template_id for p in passes})
    devices = queries.device_counts([p.id for p in passes])
    rows = [
        PassRow(p, names[p.template_id], devices.get(p.id, 0), data_summary(p.data))
        for p in passes
    ]
    return PassPage(rows, next_after)


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


def data_summary(data: dict[str, Any]) -> str:
    """Return the pass data's values on one line, cut to fit a table cell.

    Empty values are left out, so a pass without data shows nothing rather
    than a row of commas.
    """
    line = ", ".join(str(v) for v in data.values() if v is not None and str(v))
    if len(line) <= SUMMARY_LENGTH:
        return line
    return line[: SUMMARY_LENGTH - 1] + "…"


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
