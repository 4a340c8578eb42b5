"""Sign-up, sign-in (rate-limited) and sign-out, the last by POST only."""

import logging
from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app import audit
from app.auth import bp
from app.auth.forms import LoginForm, SignupForm
from app.extensions import db, limiter
from app.merchants import EmailTaken, authenticate, create_merchant

log = logging.getLogger(__name__)


def safe_next(target: str | None) -> str:
    """Return target if it is a path on this site, else the dashboard."""
    parts = urlsplit(target or "")
    is_local = (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not parts.scheme
        and not parts.netloc
    )
    return target if is_local else url_for("dashboard.overview")


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create a merchant and its first user, then sign them in."""
    form = SignupForm()
    if form.validate_on_submit():
        try:
            merchant = create_merchant(
                form.business.data.strip(),
                form.email.data,
                form.password.data,
                actor="signup",
            )
        except EmailTaken as exc:
            form.email.errors.append(str(exc))
        else:
            login_user(merchant.users[0])
            return redirect(url_for("dashboard.overview"))
    return render_template("auth/signup.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    """Sign a user in and send them where they were going, if that is here."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.email.data, form.password.data)
        if user is None:
            audit.record("user.login_failed", form.email.data[:255], None, "anonymous")
            db.session.commit()
            form.password.errors.append("Wrong email or password.")
        else:
            login_user(user, remember=form.remember.data)
            audit.record("user.login", user.email, user.merchant_id, f"user:{user.id}")
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Sign the user out."""
    logout_user()
    return redirect(url_for("auth.login"))
