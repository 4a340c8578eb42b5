"""The email that hands a customer their pass: an HTML and a plain-text part."""

import re
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from flask import current_app, render_template
from flask_mailman import EmailMultiAlternatives

from app.models import Merchant, Pass
from app.passes import service
from app.passes.bundle import PassDataError, render_pass_json

# Line breaks and other control characters would end a header early.
CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class PassNames:
    """What the customer knows the pass by: who issued it and what it is."""

    organization: str
    description: str


def pass_names(pass_: Pass, merchant: Merchant) -> PassNames:
    """Return the pass's organization name and description as Wallet shows them.

    Values that are localization keys are looked up in English, else in the
    first language; the merchant's and template's names stand in for missing
    ones.
    """
    try:
        pass_json = render_pass_json(
            pass_.template.design,
            pass_.data,
            pass_type_identifier=pass_.pass_type.pass_type_identifier,
            team_identifier=pass_.pass_type.team_identifier,
            serial_number=pass_.serial_number,
            authentication_token=pass_.authentication_token,
            web_service_url=service.web_service_url(),
        )
    except PassDataError:
        pass_json = {}
    strings = _strings(pass_.template.localizations)
    organization = _text(pass_json.get("organizationName"), strings) or merchant.name
    description = _text(pass_json.get("description"), strings) or pass_.template.name
    return PassNames(organization, description)


def _strings(localizations: dict[str, dict[str, str]]) -> dict[str, str]:
    if "en" in localizations:
        return localizations["en"]
    return next(iter(localizations.values()), {})


def _text(value, strings: dict[str, str]) -> str:
    if not isinstance(value, str):
        return ""
    return _one_line(strings.get(value, value))


def _one_line(text: str) -> str:
    return CONTROL.sub(" ", text).strip()[:MAX_NAME_LENGTH]


def sender(merchant: Merchant) -> str:
    """Return the From address: MAIL_DEFAULT_SENDER's, named after the merchant."""
    _, address = parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])
    return formataddr((_one_line(merchant.name), address))


def link_email(
    pass_: Pass, merchant: Merchant, to: str, url: str
) -> EmailMultiAlternatives:
    """Compose the email giving `to` the download link `url` of the pass."""
    names = pass_names(pass_, merchant)
    context = {"names": names, "merchant_name": merchant.name, "url": url}
    message = EmailMultiAlternatives(
        subject=f"Your pass from {names.organization}: {names.description}",
        body=render_template("mail/download_link.txt", **context),
        from_email=sender(merchant),
        to=[to],
    )
    message.attach_alternative(
        render_template("mail/download_link.html", **context), "text/html"
    )
    return message
