"""The DICOM side: a C-STORE and C-ECHO SCP the PACS sends to (pynetdicom).

Associations from calling AE titles outside the allowlist are rejected at association
(A-ASSOCIATE-RJ, "calling AE title not recognised") before any data is sent. A C-STORE is
answered success only once the instance is on disk (spool.store fsyncs the file and its
directories before returning); a write failure answers 0xA700 (out of resources), so the
PACS keeps the instance and retries it: nothing is acknowledged that is not on disk.

pynetdicom logs identifiers (UIDs, and at DEBUG the datasets' elements) on its own logger,
which is held at WARNING (configure_logging in cli.py); this module logs reason codes only.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterator
from typing import Any

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from gateway.config import ScpConfig, TlsConfig
from gateway.spool import Spool
from gateway.status import Stats

log = logging.getLogger("saludtech.gateway.scp")

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700  # "Refused: out of resources": the PACS keeps it and retries
SLOW_STORE_SECONDS = 5.0
CANNOT_UNDERSTAND = 0xC210  # "Error: cannot understand": the dataset could not be decoded
# Accepted as sent, never transcoded: the platform's de-identification decodes all of them.
TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]


def _chunks(data: bytes, size: int = 1024 * 1024) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


def handle_store(event: Any, spool: Spool, stats: Stats) -> int:
    """EVT_C_STORE: spool the instance as received (preamble, file meta, dataset: the
    bytes the PACS sent, not re-encoded), then answer."""
    try:
        sop_uid = str(event.request.AffectedSOPInstanceUID)
        # Decoding is lazy: reading the Study UID parses element headers, not pixel data.
        study_uid = str(event.dataset.get("StudyInstanceUID", "") or "")
        data = event.encoded_dataset()
    except Exception as exc:
        stats.add(store_failed=1)
        stats.error("undecodable_dataset")
        log.warning("store_refused reason=undecodable_dataset error=%s", type(exc).__name__)
        return CANNOT_UNDERSTAND
    started = time.monotonic()
    try:
        # An instance without a Study UID is spooled anyway: the platform quarantines it
        # and the center sees why in /v1/quarantine, instead of the PACS retrying forever.
        spool.store(_chunks(data), study_uid or "no-study", sop_uid)
    except Exception as exc:  # disk full, read-only, permissions: never a success
        stats.add(store_failed=1)
        stats.error("spool_write_failed")
        log.error("store_failed reason=spool_write_failed error=%s errno=%s",
                  type(exc).__name__, getattr(exc, "errno", None))  # fmt: skip
        return OUT_OF_RESOURCES
    stats.add(received=1)
    seconds = time.monotonic() - started
    if seconds > SLOW_STORE_SECONDS:
        # The PACS waits for the answer: a slow disk shows up as its DIMSE timeouts.
        log.warning("slow_store seconds=%.1f", seconds)
    return SUCCESS


def handle_echo(event: Any) -> int:
    return SUCCESS


def handle_rejected(event: Any, stats: Stats) -> None:
    stats.add(associations_rejected=1)
    stats.error("association_rejected")
    # An AE title names a device, not a person: said, so the operator can fix the list.
    log.warning("association_rejected calling_ae=%s", event.assoc.requestor.ae_title)


def ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    """A server context: our certificate; with a CA, the PACS must present one it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(tls.cert), keyfile=str(tls.key))
    if tls.ca is not None:
        context.load_verify_locations(cafile=str(tls.ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def build_ae(config: ScpConfig) -> AE:
    ae = AE(ae_title=config.ae_title)
    # Every storage SOP class pynetdicom knows, each with the common transfer syntaxes.
    for context in AllStoragePresentationContexts:
        assert context.abstract_syntax is not None  # pynetdicom's own list names them all
        ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    ae.require_calling_aet = list(config.allowed_calling_aets)
    ae.maximum_associations = config.max_associations
    return ae


def start(config: ScpConfig, spool: Spool, stats: Stats) -> ThreadedAssociationServer:
    """Listen (in background threads) until the returned server is shut down."""
    ae = build_ae(config)
    handlers: list[Any] = [
        (evt.EVT_C_STORE, handle_store, [spool, stats]),
        (evt.EVT_C_ECHO, handle_echo),
        (evt.EVT_REJECTED, handle_rejected, [stats]),
    ]
    context = ssl_context(config.tls) if config.tls else None
    server = ae.start_server(
        (config.bind, config.port), block=False, evt_handlers=handlers, ssl_context=context
    )
    assert server is not None  # block=False always answers the server
    log.info("listening ae_title=%s bind=%s port=%d tls=%s",
             config.ae_title, config.bind, config.port, context is not None)  # fmt: skip
    return server
