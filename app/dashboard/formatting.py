"""Template filters the dashboard pages share: times and shortened identifiers.

Devices and push tokens are shortened by app.formatting, as in the merchant API.
"""

from datetime import datetime

from app.dashboard import bp
from app.formatting import device_hint, token_hint
from app.models import REMOVED_AFTER_410, REMOVED_BAD_DEVICE_TOKEN, REMOVED_BY_DEVICE


@bp.app_template_filter("utc_time")
def utc_time(moment: datetime | None) -> str:
    """Format a stored UTC time to the second; a dash for none."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


bp.add_app_template_filter(device_hint)
bp.add_app_template_filter(token_hint)


PUSH_OUTCOMES = {
    "sent": "sent",
    "unregistered": "removed: the device deleted the pass (410)",
    "bad_device_token": "failed: APNs does not know the push token",
    "certificate_rejected": "failed: APNs refused the certificate",
    "failed": "failed",
}


@bp.app_template_filter("push_outcome")
def push_outcome(outcome: str) -> str:
    """Say in plain words what a push's outcome means for the device."""
    return PUSH_OUTCOMES.get(outcome, outcome)


REMOVAL_REASONS = {
    REMOVED_BY_DEVICE: "the device removed the pass",
    REMOVED_AFTER_410: "removed after APNs answered 410: the pass is gone",
    REMOVED_BAD_DEVICE_TOKEN: "removed: APNs does not know the push token",
}


@bp.app_template_filter("removal_reason")
def removal_reason(reason: str) -> str:
    """Say in plain words why a device's registration was removed."""
    return REMOVAL_REASONS.get(reason, reason)
