"""The database tables: merchants, pass types, templates, passes and devices."""

from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db


def utcnow() -> datetime:
    """Return the current time in naive UTC, as every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


class Merchant(db.Model):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    users: Mapped[list["User"]] = relationship(back_populates="merchant")
    pass_types: Mapped[list["PassType"]] = relationship(back_populates="merchant")


class User(UserMixin, db.Model):
    """A person who signs in to the dashboard for their merchant."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    merchant: Mapped[Merchant] = relationship(back_populates="users")


class PassType(db.Model):
    """A Pass Type ID certificate with its key and the WWDR that issued it."""

    __tablename__ = "pass_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    pass_type_identifier: Mapped[str] = mapped_column(String(255), unique=True)
    team_identifier: Mapped[str] = mapped_column(String(32))
    certificate_pem: Mapped[bytes] = mapped_column(LargeBinary)
    wwdr_certificate_pem: Mapped[bytes] = mapped_column(LargeBinary)
    # Fernet token of the PKCS#8 PEM key; see app.certificates.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_expires_at: Mapped[datetime]
    # Set when every push token failed with BadDeviceToken (wrong host or
    # certificate) or APNs refused the certificate (403).
    push_problem: Mapped[str | None] = mapped_column(Text)
    push_problem_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    merchant: Mapped[Merchant] = relationship(back_populates="pass_types")


class Template(db.Model):
    """A pass design: pass.json without the per-pass keys, images and strings."""

    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    pass_type_id: Mapped[int] = mapped_column(ForeignKey("pass_types.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    style: Mapped[str] = mapped_column(String(20))
    design: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"fr": {"EVENT": "ÉVÉNEMENT"}}: becomes fr.lproj/pass.strings.
    localizations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    pass_type: Mapped[PassType] = relationship()
    images: Mapped[list["TemplateImage"]] = relationship(
        back_populates="template",
        cascade="all, delete-orphan",
        order_by="TemplateImage.path",
    )


class TemplateImage(db.Model):
    """One image file of a template, by its path in the bundle (fr.lproj/logo.png)."""

    __tablename__ = "template_images"
    __table_args__ = (UniqueConstraint("template_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    path: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)

    template: Mapped[Template] = relationship(back_populates="images")


class TemplateUpdate(db.Model):
    """A template change rolling out: its passes with devices re-signed and pushed."""

    __tablename__ = "template_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    # The update tag the change gave the template's passes.
    update_tag: Mapped[int] = mapped_column(BigInteger)
    # Passes with a registered device, to re-sign and push; and how many are done.
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    # Push outcome → count, as app.push.service names them.
    outcomes: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Pass(db.Model):
    __tablename__ = "passes"
    __table_args__ = (
        UniqueConstraint("pass_type_id", "serial_number"),
        # The pass list's prefix search, within the merchant's pass types.
        Index(
            "ix_passes_pass_type_id_customer_email", "pass_type_id", "customer_email"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_type_id: Mapped[int] = mapped_column(ForeignKey("pass_types.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"), index=True)
    serial_number: Mapped[str] = mapped_column(String(64))
    authentication_token: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Who the pass was issued to, when the merchant gave it; nothing is sent yet.
    customer_email: Mapped[str | None] = mapped_column(String(320))
    # When a device last fetched the pass (200 or 304), to the minute.
    last_fetched_at: Mapped[datetime | None]
    is_voided: Mapped[bool] = mapped_column(default=False)
    # Strictly increasing across all passes; the Wallet "lastUpdated" tag.
    update_tag: Mapped[int] = mapped_column(BigInteger, index=True)
    # The Last-Modified of the current content, whole seconds, UTC.
    updated_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pass_type: Mapped[PassType] = relationship()
    template: Mapped[Template] = relationship()
    registrations: Mapped[list["Registration"]] = relationship(
        back_populates="pass_", cascade="all, delete-orphan"
    )


class DownloadLink(db.Model):
    """A link customers open to add a pass, or an order's passes at once.

    The token is its only secret. Its passes are DownloadLinkPass rows.
    """

    __tablename__ = "download_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list["DownloadLinkPass"]] = relationship(
        cascade="all, delete-orphan",
        order_by="DownloadLinkPass.position",
        passive_deletes=True,
    )

    @property
    def passes(self) -> list["Pass"]:
        """Return the link's passes in the order they were given."""
        return [item.pass_ for item in self.items]

    def is_usable(self, now: datetime) -> bool:
        """Return True unless the link is revoked or expired at `now`."""
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > now
        )


class SignedBundle(db.Model):
    """The signed .pkpass bytes of a pass, valid while its update tag matches."""

    __tablename__ = "signed_bundles"

    pass_id: Mapped[int] = mapped_column(
        ForeignKey("passes.id", ondelete="CASCADE"), primary_key=True
    )
    update_tag: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)


class UpdateCounter(db.Model):
    """A single-row counter that hands out update tags.

    Incrementing the row locks it until commit, so tags are committed in the
    order they were handed out and a device polling with the newest tag it saw
    can never miss a change committed later with a smaller tag.
    """

    __tablename__ = "update_counter"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)

    @staticmethod
    def next_tag() -> int:
        """Take the next update tag; the counter row stays locked until commit."""
        return db.session.execute(
            update(UpdateCounter)
            .where(UpdateCounter.id == 1)
            .values(value=UpdateCounter.value + 1)
            .returning(UpdateCounter.value)
        ).scalar_one()


class Device(db.Model):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    library_identifier: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the device last asked which of its passes changed (to the minute).
    last_checked_at: Mapped[datetime | None]

    registrations: Mapped[list["Registration"]] = relationship(
        back_populates="device", cascade="all, delete-orphan"
    )


class Registration(db.Model):
    """A device's registration for updates to one pass, with its push token."""

    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("device_id", "pass_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    pass_id: Mapped[int] = mapped_column(ForeignKey("passes.id"), index=True)
    push_token: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    device: Mapped[Device] = relationship(back_populates="registrations")
    pass_: Mapped[Pass] = relationship(back_populates="registrations")


class WalletLogEntry(db.Model):
    """A line Wallet sent to /v1/log, linked to the pass it names."""

    __tablename__ = "wallet_log_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int | None] = mapped_column(
        ForeignKey("passes.id", ondelete="SET NULL"), index=True
    )
    message: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class PushAttempt(db.Model):
    """The outcome of one push to one push token."""

    __tablename__ = "push_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_type_id: Mapped[int] = mapped_column(ForeignKey("pass_types.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    # Only the last characters: a push token is a credential to wake a device.
    push_token_suffix: Mapped[str] = mapped_column(String(8))
    outcome: Mapped[str] = mapped_column(String(20))
    status_code: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(100))
    apns_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(db.Model):
    """A security-relevant change: who did what to which object, and when."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int | None] = mapped_column(
        ForeignKey("merchants.id"), index=True
    )
    # "pass_type.added", "pass.voided", ...
    action: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(255))
    # "cli", "user:12": who asked for the change.
    actor: Mapped[str] = mapped_column(String(100))
    remote_addr: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# Why a registration was removed (RegistrationRemoval.reason).
REMOVED_BY_DEVICE = "unregistered"
REMOVED_AFTER_410 = "apns_unregistered"
REMOVED_BAD_DEVICE_TOKEN = "bad_device_token"


class RegistrationRemoval(db.Model):
    """A registration that was removed: which pass, which device, why and when."""

    __tablename__ = "registration_removals"

    id: Mapped[int] = mapped_column(primary_key=True)
    pass_id: Mapped[int] = mapped_column(
        ForeignKey("passes.id", ondelete="CASCADE"), index=True
    )
    # The identifier as text: idle device rows are deleted, the record stays.
    library_identifier: Mapped[str] = mapped_column(String(128))
    # One of the REMOVED_* values above.
    reason: Mapped[str] = mapped_column(String(20))
    removed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    pass_: Mapped[Pass] = relationship()


class DownloadLinkPass(db.Model):
    """One pass of a download link, at its place in the order."""

    __tablename__ = "download_link_passes"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("download_links.id", ondelete="CASCADE"), primary_key=True
    )
    pass_id: Mapped[int] = mapped_column(
        ForeignKey("passes.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # 0 for the first pass; a single-pass link has only 0.
    position: Mapped[int] = mapped_column(Integer)

    pass_: Mapped[Pass] = relationship()


# The state of one mail delivery (MailDelivery.status).
MAIL_QUEUED = "queued"
MAIL_SENT = "sent"
MAIL_FAILED = "failed"


class MailBatch(db.Model):
    """Emails of download links to the customers of some of a merchant's passes."""

    __tablename__ = "mail_batches"
    # A dashboard form's nonce starts one batch: a double submit starts none.
    __table_args__ = (UniqueConstraint("merchant_id", "request_nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    # "user:12", "cli": who asked for the emails.
    created_by: Mapped[str] = mapped_column(String(100))
    # The nonce of the form that asked for the batch; None from the CLI or API.
    request_nonce: Mapped[str | None] = mapped_column(String(64))
    # Deliveries in the batch, and how many were sent or failed so far.
    total: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]


class MailDelivery(db.Model):
    """One email of a batch: which pass, to which address, and how it went."""

    __tablename__ = "mail_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("mail_batches.id", ondelete="CASCADE"), index=True
    )
    pass_id: Mapped[int] = mapped_column(
        ForeignKey("passes.id", ondelete="CASCADE"), index=True
    )
    # The address when the batch started; None when the pass had none.
    email: Mapped[str | None] = mapped_column(String(320))
    # One of the MAIL_* values above.
    status: Mapped[str] = mapped_column(String(10), default=MAIL_QUEUED)
    # Why it failed, as the mail server or the check said it.
    error: Mapped[str | None] = mapped_column(Text)
    # The download link the email carried.
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("download_links.id", ondelete="SET NULL")
    )
    sent_at: Mapped[datetime | None]

    pass_: Mapped[Pass] = relationship()


class ApiKey(db.Model):
    """A merchant's key to the REST API; only its SHA-256 hash is stored.

    Keys carry 256 random bits, so a plain hash is as safe as a slow one and
    lets each request find its key with one indexed lookup.
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # The key's first characters, shown so the merchant can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    # Hex SHA-256 of the whole key.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "user:12": who made it.
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class IdempotentRequest(db.Model):
    """An API request made with an Idempotency-Key, and the answer it got.

    A repeat with the same key and body replays the answer; the row is kept
    for a day (app.api.idempotency).
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("merchant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(
        ForeignKey("merchants.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(255))
    # Hex SHA-256 of the method, path and body the key was first used with.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # None while the first request is still running.
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# The state of one webhook delivery (WebhookDelivery.status).
WEBHOOK_PENDING = "pending"
WEBHOOK_DELIVERED = "delivered"
WEBHOOK_FAILED = "failed"


class WebhookEndpoint(db.Model):
    """A merchant's URL that receives signed events; see app.webhooks."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # Fernet token of the signing secret, under KEY_ENCRYPTION_KEY.
    secret_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # The event types it receives ("pass.installed", ...).
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(db.Model):
    """One event for one endpoint: its payload and how sending it went."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The sweep for deliveries due: pending ones by their next attempt.
        Index(
            "ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    # Shared by the deliveries of one event to several endpoints.
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    # The whole JSON body: {"id", "type", "created_at", "data"}.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # One of the WEBHOOK_* values above.
    status: Mapped[str] = mapped_column(String(10), default=WEBHOOK_PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    # When a pending delivery is due; while one is being sent, when its claim ends.
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]

    endpoint: Mapped[WebhookEndpoint] = relationship()


# The state of a bulk import (BulkImport.status).
BULK_UPLOADED = "uploaded"
BULK_CHECKING = "checking"
BULK_CHECKED = "checked"
BULK_RUNNING = "running"
BULK_FINISHED = "finished"
BULK_FAILED = "failed"


class BulkImport(db.Model):
    """A CSV uploaded to issue passes of a template, kept between the steps.

    The file stays until the import is deleted with its template: the rows a
    run refused are given back from it, with their errors.
    """

    __tablename__ = "bulk_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), index=True
    )
    # "user:12", "cli": who uploaded the file.
    created_by: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    # {"fields": {placeholder: header}, "serial": header, "email": header}.
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # One of the BULK_* values above.
    status: Mapped[str] = mapped_column(String(10), default=BULK_UPLOADED)
    # What the last run was asked to do.
    is_dry_run: Mapped[bool] = mapped_column(default=False)
    email_passes: Mapped[bool] = mapped_column(default=False)
    # Rows in the file, rows checked so far, and of those the good and bad ones.
    total: Mapped[int] = mapped_column(default=0)
    done: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    refused: Mapped[int] = mapped_column(default=0)
    # [[line, [message, ...]], ...]: the rows the last run refused, and why.
    refused_rows: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # How the file was read and the mapping's first rows checked, stored when
    # the mapping is chosen (app.passes.bulk.runs.stored_preview).
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Why the run stopped, or why the emails could not be started.
    problem: Mapped[str | None] = mapped_column(Text)
    mail_batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("mail_batches.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    template: Mapped[Template] = relationship()
