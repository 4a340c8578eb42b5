"""Dashboard pages: the overview of the merchant's pass types and passes."""

from flask import redirect, render_template, url_for
from flask_login import current_user

from app.dashboard import activity, bp, summaries


def index():
    """Send visitors of the site's root to the dashboard."""
    return redirect(url_for("dashboard.overview"))


@bp.get("/")
def overview():
    """Show the merchant's counts, last 30 days of activity and pass types."""
    merchant_id = current_user.merchant_id

    days = activity.daily_activity(merchant_id)

    return render_template(
        "dashboard/overview.html",
        overview=summaries.overview(merchant_id),
        activity_days=days,
        activity_chart=activity.chart(days),
        activity_series=activity.SERIES,
        pass_types=summaries.pass_types(merchant_id),
        expires_soon=summaries.expires_soon,
        push_state=summaries.push_state,
    )
