"""Creating, resolving and revoking download links."""

import logging
import secrets
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from sqlalchemy import insert, select

from app import audit
from app.extensions import db
from app.models import DownloadLink, DownloadLinkPass, Pass, utcnow
from app.passes.bundle import MAX_BUNDLED_PASSES

log = logging.getLogger(__name__)

# 192 random bits, written in 32 characters; anything far longer is no token.
TOKEN_BYTES = 24
MAX_TOKEN_LENGTH = 64


def create_link(pass_: Pass, expires_at: datetime | None = None) -> DownloadLink:
    """Give the pass a new link: 192 random bits, unrelated to serial or token."""
    return _create([pass_], expires_at)


def create_order_link(
    passes: Iterable[Pass], expires_at: datetime | None = None
) -> DownloadLink:
    """Give several passes of one order a link that adds them all at once.

    Raises ValueError for no passes, more than a .pkpasses holds, a pass listed
    twice, or passes of different merchants.
    """
    passes = list(passes)
    if not 1 <= len(passes) <= MAX_BUNDLED_PASSES:
        raise ValueError(f"An order link holds 1 to {MAX_BUNDLED_PASSES} passes.")
    if len({pass_.id for pass_ in passes}) != len(passes):
        raise ValueError("A pass is listed twice.")
    if len({pass_.pass_type.merchant_id for pass_ in passes}) != 1:
        raise ValueError("The passes belong to different merchants.")
    return _create(passes, expires_at)


def create_links(passes: Iterable[Pass]) -> list[DownloadLink]:
    """Give each pass a new link of its own; the caller commits.

    For many passes at once, such as a chunk of a mail batch or of a bulk
    issue: the links and their items are inserted in a statement each, and
    the caller commits them with its own changes. The passes must have ids.
    """
    pass_ids = [pass_.id for pass_ in passes]
    if not pass_ids:
        return []
    links = db.session.scalars(
        insert(DownloadLink).returning(DownloadLink, sort_by_parameter_order=True),
        [{"token": _new_token()} for _ in pass_ids],
    ).all()
    db.session.execute(
        insert(DownloadLinkPass),
        [
            {"link_id": link.id, "pass_id": pass_id, "position": 0}
            for link, pass_id in zip(links, pass_ids, strict=True)
        ],
    )
    return list(links)


def _create(passes: list[Pass], expires_at: datetime | None) -> DownloadLink:
    link = _new_link(passes, expires_at)
    db.session.add(link)
    db.session.commit()
    return link


def _new_link(passes: list[Pass], expires_at: datetime | None) -> DownloadLink:
    """Return a link to the passes, in their order, with a new random token."""
    return DownloadLink(
        token=_new_token(),
        expires_at=expires_at,
        items=[
            DownloadLinkPass(pass_=pass_, position=position)
            for position, pass_ in enumerate(passes)
        ],
    )


def _new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def link_url(link: DownloadLink) -> str:
    """Return the absolute URL of a link's page, on PUBLIC_URL."""
    # Built from the URL map, not url_for: commands and jobs have no request.
    path = current_app.url_map.bind("").build(
        "downloads.link_page", {"token": link.token}
    )
    return current_app.config["PUBLIC_URL"] + path


def find_link(token: str) -> DownloadLink | None:
    """Return the link with this token, or None; revoked and expired ones too."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    return db.session.scalar(select(DownloadLink).filter_by(token=token))


def revoke_link(link: DownloadLink, actor: str) -> None:
    """Withdraw the link for good, with an audit entry naming its passes."""
    link.revoked_at = utcnow()
    passes = link.passes
    serials = ", ".join(pass_.serial_number for pass_ in passes)
    merchant_id = passes[0].pass_type.merchant_id if passes else None
    audit.record(
        "link.revoked", f"link {link.id} of {serials}"[:255], merchant_id, actor
    )
    db.session.commit()
    log.info("download link %s revoked by %s", link.id, actor)
