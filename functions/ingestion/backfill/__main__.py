"""``python -m functions.ingestion.backfill``: the same command as ``saludtech-backfill``."""

from functions.ingestion.backfill.cli import main

main()
