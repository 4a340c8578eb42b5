"""Carrying a template change to its passes: re-sign, push, count progress.

Only passes with a registered device are re-signed here: a device fetches the
new bundle right after the push, so it is ready for it. The others are signed
when someone downloads them.
"""

import logging
from collections import Counter

from sqlalchemy import select

from app.extensions import db
from app.models import Pass, TemplateUpdate, utcnow
from app.passes.service import signed_bundle
from app.push.service import push_pass_updates

log = logging.getLogger(__name__)

CHUNK = 100


def run_template_update(update_id: int) -> None:
    """Re-sign and push the passes of one template change, a chunk at a time."""
    template_update = db.session.get(TemplateUpdate, update_id)
    if template_update is None:
        return
    pass_ids = list(
        db.session.scalars(
            select(Pass.id)
            .where(
                Pass.template_id == template_update.template_id,
                Pass.registrations.any(),
            )
            .order_by(Pass.id)
        )
    )
    template_update.total = len(pass_ids)
    db.session.commit()

    for start in range(0, len(pass_ids), CHUNK):
        if _superseded(template_update):
            log.info("template update %s superseded by a newer one", template_update.id)
            break
        chunk = pass_ids[start : start + CHUNK]
        _sign(chunk, template_update.update_tag)
        outcomes = Counter(template_update.outcomes) + push_pass_updates(chunk)
        template_update.outcomes = dict(outcomes)
        template_update.done = start + len(chunk)
        db.session.commit()

    template_update.finished_at = utcnow()
    db.session.commit()
    log.info(
        "template update %s finished: %s", template_update.id, template_update.outcomes
    )


def _sign(pass_ids: list[int], update_tag: int) -> None:
    for pass_ in db.session.scalars(select(Pass).where(Pass.id.in_(pass_ids))):
        if pass_.update_tag != update_tag:
            continue  # changed again since: that change signs it
        try:
            signed_bundle(pass_)
        except Exception:
            # The device's fetch signs it again and reports the error there;
            # the push still goes out.
            log.exception("could not sign pass %s", pass_.serial_number)
            db.session.rollback()


def _superseded(template_update: TemplateUpdate) -> bool:
    newer = db.session.scalar(
        select(TemplateUpdate.id).where(
            TemplateUpdate.template_id == template_update.template_id,
            TemplateUpdate.id > template_update.id,
        )
    )
    return newer is not None
