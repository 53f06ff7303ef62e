"""saludtech-gateway: the edge gateway a health center runs beside its PACS.

The PACS sends DICOM instances to it over DIMSE (C-STORE); each one is written to a local
spool and fsynced before it is acknowledged; an uploader sends the spool to the center's
ingest prefix through the public api (`POST /v1/uploads`, signed PUT URLs), retrying while
the platform is away. It is a separate deployable installed at the hospital
(requirements-gateway.txt): it talks to the platform over HTTP only and imports nothing
from `functions`. docs/gateway.md is the operator's guide.
"""
