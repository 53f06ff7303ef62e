"""The archive backfill: the ingestion pipeline as an Apache Beam job, for archives that
outgrow one machine (docs/backfill.md).

It lists a folder or a `gs://` prefix, and each worker ingests what it is given through the
ingestion service itself (IngestionService, its catalogue command and its MessageProcessor),
so an archived file gets exactly what an upload of it gets: the same anonymized object, the
same catalogue record, the same ImageAnonymized event, and one record whichever way it came
first. Unlike an upload, the original is never deleted: an archive is kept.

  sources.py   what an archive holds (ArchiveObject) and the listers of a folder or a prefix
  reading.py   the port that reads an archived object and keeps it in quarantine, and its
               adapters (a folder, Cloud Storage)
  service.py   one object through the ingestion service; what the job emits for it
  options.py   the pipeline options, and the settings a worker builds its service from
  secrets.py   the keys a Dataflow worker reads from Secret Manager
  pipeline.py  the Beam transforms
  cli.py       `saludtech-backfill`
"""
