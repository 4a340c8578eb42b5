"""The PassKit web service Wallet calls: registrations, updates, passes, logs.

Mounted at PUBLIC_URL + "/passkit", the webServiceURL of every pass; Wallet
adds "/v1/..." itself. Answers are bare status codes, as Apple specifies.
"""

from flask import Blueprint

bp = Blueprint("wallet", __name__, url_prefix="/passkit")

from app.wallet import views  # noqa: E402, F401 - registers the routes on bp
