"""Sagas context: the process manager of long business transactions across contexts.

Read it in this order: messages (its contract: the saga's own events and internal commands),
definition (a saga as data: steps, the commands they send, the replies that settle them,
their compensations and deadlines), plans (the PRO and ENTERPRISE definitions), domain (saga
state and its log), engine (how a definition drives a saga: advance, compensate in reverse
order, deadlines, stuck), routing (which saga an event belongs to), handlers (one per
consumed event, and the map of them), unit_of_work (where sagas, their logs and routes are
stored), queries (the read side), doors (its HTTP doors and their models), entrypoints (the
Cloud Functions), wiring (how it is put together). The sagas read no other context's store:
what a command needs (ids, the client's code) is among a saga's facts, learned from the
events it consumes.
"""
