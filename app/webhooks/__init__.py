"""Webhooks: signed events POSTed to merchants' URLs, retried with back-off.

events.py records an event as one delivery row per subscribed endpoint and
queues a job; delivery.py sends the due deliveries and schedules retries;
signing.py makes and checks the Passline-Signature header; urls.py decides
which URLs an endpoint may have.
"""
