"""Emailing download links to customers: composing the emails and sending batches."""

from app.mail.batches import RepeatedMailRequest, run_mail_batch, start_mail_batch

__all__ = ["RepeatedMailRequest", "run_mail_batch", "start_mail_batch"]
