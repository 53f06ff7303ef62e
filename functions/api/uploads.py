"""Signed, time-limited upload URLs into the ingest bucket, under the center's own prefix.

The object name is `<center id>/uploads/<random>.<dcm|zip>`, built here from the caller's
token, never from the request, so a center cannot name a path under another center (the
ingestion pipeline reads the center from that first segment). The file name the caller
sent gives the type only: a PACS names its exports after the patient often enough that an
object name built from it would carry a name into the bucket's listings, its notification
topics, the audit log and the storage logs. The answer names the object, so the caller
maps its file to it. The URL signs the method (PUT) and the content type, and expires.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from functions.api.answers import UploadGrant
from functions.api.principals import Principal
from shared.domain.errors import PermanentError

# The body's model declares it too (bodies.UploadBody): no "/", so no other prefix.
FILE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_FILE_NAME = re.compile(FILE_NAME_PATTERN)
CONTENT_TYPES = {".dcm": "application/dicom", ".zip": "application/zip"}


class UploadSigner(Protocol):
    def sign_upload(self, bucket: str, name: str, content_type: str, lifetime: timedelta) -> str:
        """A URL that lets its holder PUT one object of that content type, for `lifetime`."""


@dataclass
class UploadUrls:
    signer: UploadSigner
    bucket: str
    lifetime: timedelta

    def grant(self, who: Principal, file_name: str, now: datetime) -> UploadGrant:
        if not _FILE_NAME.match(file_name):
            raise PermanentError(
                "invalid_file_name", "letters, digits, '.', '_', '-', at most 128",
                field="file_name",
            )  # fmt: skip
        suffix = file_name[file_name.rfind(".") :].lower() if "." in file_name else ""
        if suffix not in CONTENT_TYPES:
            raise PermanentError("unsupported_file_type", "a .dcm or a .zip", field="file_name")
        name = f"{who.scope}/uploads/{uuid.uuid4().hex}{suffix}"
        content_type = CONTENT_TYPES[suffix]
        return UploadGrant(
            url=self.signer.sign_upload(self.bucket, name, content_type, self.lifetime),
            headers={"Content-Type": content_type},
            object=name,
            expires_at=(now + self.lifetime).isoformat(timespec="seconds"),
        )
