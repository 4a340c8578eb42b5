"""The merchant dashboard: every page needs a signed-in user of the merchant."""

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.before_request
@login_required
def require_login() -> None:
    """Send anonymous visitors of any dashboard page to the sign-in page."""


# Each module registers its pages on bp.
from app.dashboard import (  # noqa: E402, F401
    api_keys,
    bulk_imports,
    formatting,
    links,
    mail_pages,
    pass_types,
    passes,
    template_images,
    templates_pages,
    views,
    webhooks,
)
