"""Subscriptions context (original: microservicio suscripciones): clients, plans, payments.

Read it in this order: messages (its contract), domain (the Subscription aggregate and its
rules), handlers (one per command, and the map of them), unit_of_work (where aggregates are
stored), queries (the read side), doors (its HTTP doors and their models), entrypoints (the
Cloud Functions), wiring (how it is put together from the shared platform), adapters/ (its
own adapters: the payment gateways).
"""
