"""Subscriptions context (original: microservicio suscripciones): clients, plans, payments."""

CONTEXT = "subscriptions"
SOURCE = "/saludtech/subscriptions"
COMMANDS_TOPIC = "subscriptions-commands"
EVENTS_TOPIC = "subscriptions-events"
DEAD_LETTER_TOPIC = "subscriptions-dead-letter"
