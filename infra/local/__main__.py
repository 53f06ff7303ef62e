"""`python -m infra.local ...` runs the same CLI as `saludtech-local`."""

from infra.local.cli import app

app(prog_name="saludtech-local")
