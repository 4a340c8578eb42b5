"""Creating and resolving download links."""

import secrets

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import DownloadLink, Pass


def create_link(pass_: Pass) -> DownloadLink:
    """Give the pass a new link: 192 random bits, unrelated to serial or token."""
    link = DownloadLink(pass_=pass_, token=secrets.token_urlsafe(24))
    db.session.add(link)
    db.session.commit()
    return link


def link_url(link: DownloadLink) -> str:
    """Return the absolute URL of a link, on PUBLIC_URL."""
    # Built from the URL map, not url_for: commands and jobs have no request.
    path = current_app.url_map.bind("").build(
        "downloads.download", {"token": link.token}
    )
    return current_app.config["PUBLIC_URL"] + path


def find_link(token: str) -> DownloadLink | None:
    """Return the link with this token, or None; revoked and expired ones too."""
    return db.session.scalar(select(DownloadLink).filter_by(token=token))
