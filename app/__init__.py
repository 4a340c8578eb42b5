"""Passline: a self-hosted server for Apple Wallet passes."""

import logging
import os

from flask import Flask

from app import config
from app.converters import StoredIdConverter
from app.extensions import csrf, db, limiter, login_manager, mailer, migrate

log = logging.getLogger(__name__)


def create_app(
    test_config: dict | None = None, instance_path: str | None = None
) -> Flask:
    """Create the application: defaults, then instance config and env.

    A test mapping replaces the instance config and the environment, so tests
    never read the machine's settings.
    """
    app = Flask(
        __name__,
        instance_path=instance_path,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.from_object(config.Defaults)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
        app.instance_path, "passline.sqlite"
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)
    config.check(app)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=config.MIGRATIONS_DIR)
    csrf.init_app(app)
    limiter.init_app(app)
    mailer.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see that page."

    from app.merchants import load_user

    login_manager.user_loader(load_user)

    from app import jobs, push

    jobs.init_app(app)
    push.init_app(app)

    from app.auth import bp as auth_bp
    from app.dashboard import bp as dashboard_bp
    from app.dashboard.views import index
    from app.downloads import bp as downloads_bp
    from app.wallet import bp as wallet_bp

    # Wallet devices authenticate each call with the pass's token; no cookies.
    csrf.exempt(wallet_bp)
    # Before any route: every <int:...> in the URL map is a stored id.
    app.url_map.converters["int"] = StoredIdConverter
    app.register_blueprint(wallet_bp)
    app.register_blueprint(downloads_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(dashboard_bp)

    from app import api

    api.init_app(app)
    app.add_url_rule("/", view_func=index)

    from app import errors

    errors.init_app(app)

    from app.cli import register_commands

    register_commands(app)
    return app
