"""Merchants and their users."""

import logging

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app import audit
from app.extensions import db
from app.models import Merchant, User

log = logging.getLogger(__name__)


class EmailTaken(ValueError):
    """Another user already signs in with that email address."""


def create_merchant(
    name: str, email: str, password: str, *, actor: str = "system"
) -> Merchant:
    """Create a merchant with one user; the password is hashed with scrypt."""
    email = email.strip().lower()
    if db.session.scalar(select(User).filter_by(email=email)) is not None:
        raise EmailTaken(f"A user with the email {email} already exists.")
    merchant = Merchant(name=name)
    merchant.users.append(
        User(email=email, password_hash=generate_password_hash(password))
    )
    db.session.add(merchant)
    db.session.flush()
    audit.record("merchant.created", email, merchant.id, actor)
    db.session.commit()
    log.info("merchant %s created with user %s", merchant.id, email)
    return merchant


# Checked against when no user has the email, so both cases cost the same.
_NO_USER_HASH = generate_password_hash("no user has this password")


def authenticate(email: str, password: str) -> User | None:
    """Return the user if the password matches theirs (scrypt), else None."""
    user = find_user(email)
    matches = check_password_hash(
        user.password_hash if user else _NO_USER_HASH, password
    )
    return user if user is not None and matches else None


def load_user(user_id: str) -> User | None:
    """Return the signed-in user from the id kept in the session."""
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def find_user(email: str) -> User | None:
    """Return the user signing in with this email, any case, or None."""
    return db.session.scalar(select(User).filter_by(email=email.strip().lower()))
