"""``python -m functions.ingestion.deid``: the same CLI as ``saludtech-deid``."""

from .cli import main

main()
