"""Shortened identifiers, as the dashboard and the merchant API show them.

Devices and push tokens are shown by their last characters only, in one place,
so no page or API answer shows a full push token (a credential to wake the
device).
"""


def device_hint(library_identifier: str) -> str:
    """Show a device library identifier by its last 6 characters."""
    return "…" + library_identifier[-6:]


def token_hint(push_token: str) -> str:
    """Show a push token by its last 4 characters."""
    return "…" + push_token[-4:]
