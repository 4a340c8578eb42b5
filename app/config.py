"""Default settings and the start-up check.

Every setting can be overridden in ``instance/config.py`` or with a ``FLASK_``
prefixed environment variable (``FLASK_PUBLIC_URL=https://passes.example.com``).
Run ``python -m app.instance_config`` to print one with fresh random keys.
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
    # HTTP/2 connections per pass type certificate; each carries up to 100
    # concurrent pushes.
    APNS_CONNECTIONS = 4

    # Session cookies: never readable by scripts, sent on same-site requests
    # only, and over https only when PUBLIC_URL is https (None: decide so).
    SESSION_COOKIE_SECURE: bool | None = None
    REMEMBER_COOKIE_SECURE: bool | None = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    # CSRF tokens last as long as the signed-in session rather than an hour,
    # so a form left open for hours (the designer) can still be saved; the
    # token is still bound to the session and refused once it ends.
    WTF_CSRF_TIME_LIMIT = None
    # Sign-in attempts allowed per client address.
    LOGIN_RATE_LIMIT = "10 per minute"
    # Merchant API calls allowed per API key.
    API_RATE_LIMIT = "600 per minute"
    # Where rate-limit counters live: "memory://" per process, or a Redis URL.
    RATELIMIT_STORAGE_URI = "memory://"

    # "thread": an in-process background worker. "sync": run jobs inline.
    # "rq": jobs go through Redis to `flask jobs-worker` processes.
    JOB_QUEUE = "thread"
    REDIS_URL = "redis://127.0.0.1:6379/0"
    RQ_QUEUE = "passline"
    # Seconds a job may run before RQ stops it (a large template update).
    JOB_TIMEOUT = 3600

    # Webhooks: seconds to wait for a merchant's endpoint to answer, and the
    # delays before each retry of a delivery that failed; after the last one
    # the delivery is marked failed (so len + 1 attempts in all).
    WEBHOOK_TIMEOUT = 5.0
    WEBHOOK_RETRY_DELAYS = [30, 120, 600, 3600, 21600]
    # Whether endpoints may use http:// URLs, and hosts on loopback or private
    # networks; None: only when DEVELOPMENT or TESTING is on.
    WEBHOOK_ALLOW_HTTP: bool | None = None
    WEBHOOK_ALLOW_PRIVATE: bool | None = None

    # Mail: download links emailed to customers over SMTP (Flask-Mailman).
    # The backend is named so that TESTING does not swap in an in-memory one.
    MAIL_BACKEND = "smtp"
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    # STARTTLS on a plain connection, or TLS from the start: one or neither.
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    # The address emails come from; the merchant's name is shown in front of it.
    MAIL_DEFAULT_SENDER = "Passline <passes@localhost>"
    # Seconds for connecting and for each SMTP command.
    MAIL_TIMEOUT = 10.0
    # Connections tried for a chunk of emails before its unsent ones are
    # recorded failed, and the first delay between them in seconds (doubled).
    MAIL_MAX_ATTEMPTS = 3
    MAIL_RETRY_DELAY = 1.0


class ConfigError(RuntimeError):
    """A setting the server cannot start without, or cannot start with."""


def check(app) -> None:
    """Refuse to start without the secrets and the public URL production needs."""
    relaxed = app.config["DEVELOPMENT"] or app.config.get("TESTING")
    if not app.config.get("SECRET_KEY"):
        if not relaxed:
            raise ConfigError(
                "SECRET_KEY is not set: run `make run` once, or put it in "
                "instance/config.py or FLASK_SECRET_KEY "
                "(`python -m app.instance_config` prints a config with one)."
            )
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    if not app.config.get("KEY_ENCRYPTION_KEY"):
        raise ConfigError(
            "KEY_ENCRYPTION_KEY is not set: it encrypts certificate keys at rest. "
            "Run `make run` once, or put it in instance/config.py or "
            "FLASK_KEY_ENCRYPTION_KEY "
            "(`python -m app.instance_config` prints a config with one)."
        )
    for key in ("SECRET_KEY", "KEY_ENCRYPTION_KEY", "PUBLIC_URL"):
        # FLASK_ variables are read as JSON, so "12345" arrives as a number.
        if not isinstance(app.config[key], str):
            raise ConfigError(f"{key} must be text, not {app.config[key]!r}.")
    for key in ("MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_DEFAULT_SENDER"):
        if not isinstance(app.config[key], str | None):
            raise ConfigError(
                f"{key} must be text, not {app.config[key]!r} "
                f"(quote it in FLASK_{key}: '\"...\"')."
            )
    delays = app.config["WEBHOOK_RETRY_DELAYS"]
    if not isinstance(delays, list | tuple) or not all(
        isinstance(d, int | float) and not isinstance(d, bool) and d >= 0
        for d in delays
    ):
        raise ConfigError(
            f"WEBHOOK_RETRY_DELAYS must be a list of seconds, not {delays!r}."
        )
    if app.config["MAIL_USE_TLS"] and app.config["MAIL_USE_SSL"]:
        raise ConfigError("MAIL_USE_TLS and MAIL_USE_SSL exclude each other: pick one.")
    try:
        Fernet(app.config["KEY_ENCRYPTION_KEY"])
    except ValueError as exc:
        raise ConfigError(
            "KEY_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64 bytes)."
        ) from exc
    public_url = app.config["PUBLIC_URL"].rstrip("/")
    if not public_url.startswith(("https://", "http://")):
        raise ConfigError(f"PUBLIC_URL must be an https:// URL, not {public_url!r}.")
    if not relaxed and not public_url.startswith("https://"):
        raise ConfigError(
            "PUBLIC_URL must be https:// (Wallet only calls https web services); "
            "set DEVELOPMENT=true (FLASK_DEVELOPMENT=true) to try it over http."
        )
    app.config["PUBLIC_URL"] = public_url
    for key in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if app.config[key] is None:
            app.config[key] = public_url.startswith("https://")
