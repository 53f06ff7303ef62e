"""Data services context (original: servicio de datos): curated datasets, experts, delivery.

Read it in this order: messages (its contract), domain (the DataService aggregate and its
state machine), experts (the registry's aggregate and the choice by speciality and load),
datasets (criteria resolved into a frozen manifest, split by patient), plans (what a plan
allows), handlers (one per message, and the map of them), unit_of_work (where aggregates are
stored), catalogue (its own projection of the anonymized images), delivery (start, chunks,
completion, revocation around the handlers), queries (the read side), doors (its HTTP doors
and their models), entrypoints (the Cloud Functions), wiring (how it is put together),
adapters/ (link signing).
"""
