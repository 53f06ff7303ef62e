"""Notifications context: an event-sourced log of what was told to whom, and whether it arrived.

Read it in this order: messages (its contract), domain (the Notification aggregate, rebuilt
from its events, and the retry schedule), rules (which event tells whom what), recipients
(channel preferences, which are data), handlers (one per consumed message, and the map of
them), unit_of_work (the event store and the live read model in the inbox's transaction),
delivery (the send step after a claim), projection and queries (the read side), doors (its
HTTP doors and their models), entrypoints (the Cloud Functions), wiring, adapters/ (SMTP
email, signed webhooks).
"""
