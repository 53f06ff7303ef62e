"""`python -m gateway ...`: the same as the saludtech-gateway command."""

from gateway.cli import app

app()
