"""Dashboard pages: the overview and the merchant's pass types."""

from flask import redirect, render_template, url_for
from flask_login import current_user

from app.dashboard import bp, summaries
from app.models import PassType


def index():
    """Send visitors of the site's root to the dashboard."""
    return redirect(url_for("dashboard.overview"))


@bp.get("/")
def overview():
    """Show the merchant's counts and pass types."""
    merchant_id = current_user.merchant_id

    return render_template(
        "dashboard/overview.html",
        overview=summaries.overview(merchant_id),
        pass_types=summaries.pass_types(merchant_id),
        expires_soon=summaries.expires_soon,
    )


@bp.get("/pass-types/<int:pass_type_id>")
def pass_type(pass_type_id: int):
    """Show one pass type: its identifiers, expiry and recent push outcomes."""
    found = summaries.owned_or_404(PassType, pass_type_id, current_user.merchant_id)

    return render_template(
        "dashboard/pass_type.html",
        pass_type=found,
        expires_soon=summaries.expires_soon(found),
        pushes=summaries.recent_pushes(found),
    )
