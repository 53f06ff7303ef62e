"""A PACS for the gateway's tests and benchmark: sends datasets by C-STORE (pynetdicom, or
dcmtk's storescu), and a plain C-STORE sink that only writes to disk (the baseline)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.transport import ThreadedAssociationServer

PACS_AET = "TEST_PACS"
STORESCU_MISSING = "storescu not found: apt-get install dcmtk"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def sender(calling: str, sop_classes: Iterable[str]) -> AE:
    ae = AE(ae_title=calling)
    # An SCU proposes at most 128 contexts: the classes it is about to send.
    for sop_class in sorted(set(sop_classes)):
        ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    return ae


def c_store(
    port: int,
    datasets: Iterable[Dataset],
    *,
    calling: str = PACS_AET,
    called: str = "SALUDTECH_GW",
    tls: ssl.SSLContext | None = None,
    stop_after: int | None = None,
) -> list[int]:
    """C-STORE each dataset over one association; the statuses answered (an empty list:
    the association was rejected). `stop_after`: abort the association after that many."""
    datasets = list(datasets)
    ae = sender(calling, (str(ds.SOPClassUID) for ds in datasets))
    options: dict[str, Any] = {"tls_args": (tls, None)} if tls else {}
    assoc = ae.associate("127.0.0.1", port, ae_title=called, **options)
    if not assoc.is_established:
        return []
    statuses: list[int] = []
    try:
        for ds in datasets:
            answer = assoc.send_c_store(ds)
            if "Status" not in answer:  # no answer within the DIMSE timeout: aborted
                statuses.append(-1)
                break
            statuses.append(int(answer.Status))
            if stop_after is not None and len(statuses) >= stop_after:
                break
    finally:
        if assoc.is_established:
            assoc.release()
    return statuses


def storescu(port: int, files: list[Path], called: str = "SALUDTECH_GW") -> None:
    """dcmtk's storescu, as many PACS-side tools send."""
    if shutil.which("storescu") is None:
        raise FileNotFoundError(STORESCU_MISSING)
    subprocess.run(
        ["storescu", "-aet", PACS_AET, "-aec", called, "127.0.0.1", str(port),
         *map(str, files)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def sink(directory: Path, port: int) -> ThreadedAssociationServer:
    """A C-STORE SCP that writes what it receives to disk and nothing else: the baseline."""
    directory.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1 << 62))

    def store(event: Any) -> int:
        (directory / f"{next(counter)}.dcm").write_bytes(event.encoded_dataset())
        return 0x0000

    ae = AE(ae_title="SINK")
    for context in AllStoragePresentationContexts:
        assert context.abstract_syntax is not None
        ae.add_supported_context(context.abstract_syntax)
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, store)]
    )
    assert server is not None
    return server
