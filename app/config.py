"""Default settings and the start-up check.

Every setting can be overridden in ``instance/config.py`` or with a ``FLASK_``
prefixed environment variable (``FLASK_PUBLIC_URL=https://passes.example.com``).
Run ``python -m app.config`` to print a fresh instance config with random keys.
"""

import os
import secrets

from cryptography.fernet import Fernet

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


class Defaults:
    # Signs session cookies. Required unless DEVELOPMENT or TESTING is on.
    SECRET_KEY: str | None = None
    # Fernet key that encrypts pass type private keys at rest. Always required.
    KEY_ENCRYPTION_KEY: str | None = None
    # Development mode allows an http:// webServiceURL (Wallet only accepts it on
    # a device with the developer setting on).
    DEVELOPMENT = False

    # Base URL devices and customers reach this server at; webServiceURL is
    # PUBLIC_URL + "/passkit".
    PUBLIC_URL = "http://127.0.0.1:5000"

    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Largest request body accepted (certificate and image uploads included).
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024

    # APNs: production host by default; pass updates only work against it.
    APNS_HOST = "api.push.apple.com"
    APNS_PORT = 443
    # Extra CA bundle (PEM file) trusted for the APNs host, for stand-ins.
    APNS_CA_BUNDLE: str | None = None
    APNS_TIMEOUT = 10.0
    # Attempts for a push answered 429 or 5xx, and the first back-off delay in
    # seconds (doubled on each retry).
    APNS_MAX_ATTEMPTS = 4
    APNS_RETRY_DELAY = 0.5

    # "thread": an in-process background worker. "sync": run jobs inline.
    JOB_QUEUE = "thread"


def check(app) -> None:
    """Refuse to start without the secrets production needs."""
    relaxed = app.config["DEVELOPMENT"] or app.config.get("TESTING")
    if not app.config.get("SECRET_KEY"):
        if not relaxed:
            raise RuntimeError(
                "SECRET_KEY is not set: put it in instance/config.py or "
                "FLASK_SECRET_KEY (python -m app.config prints one)."
            )
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    if not app.config.get("KEY_ENCRYPTION_KEY"):
        raise RuntimeError(
            "KEY_ENCRYPTION_KEY is not set: it encrypts certificate keys at rest. "
            "Put it in instance/config.py or FLASK_KEY_ENCRYPTION_KEY "
            "(python -m app.config prints one)."
        )
    app.config["PUBLIC_URL"] = app.config["PUBLIC_URL"].rstrip("/")


def instance_config_text() -> str:
    """Return the text of a new instance/config.py with random keys."""
    return (
        "# Written by `python -m app.config`. Keep this file secret and backed up:\n"
        "# without KEY_ENCRYPTION_KEY the stored certificate keys cannot be read.\n"
        f"SECRET_KEY = {secrets.token_hex(32)!r}\n"
        f"KEY_ENCRYPTION_KEY = {Fernet.generate_key().decode()!r}\n"
    )


if __name__ == "__main__":
    print(instance_config_text(), end="")
