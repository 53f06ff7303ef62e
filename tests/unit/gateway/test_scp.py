"""The SCP on the loopback: a PACS (pynetdicom, and dcmtk's storescu when installed) sends
a study; the allowlist, C-ECHO, TLS, and a failed write answered as a failure."""

from __future__ import annotations

import datetime
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from gateway import scp
from gateway.config import ScpConfig, TlsConfig
from gateway.spool import Spool
from gateway.status import Stats
from infra.samples.synthetic_dicom import make_study, write_study
from tests.support.pacs import PACS_AET, STORESCU_MISSING, c_store, free_port, storescu
from tests.unit.gateway.fakes import RecordingOps


class Running:
    def __init__(self, tmp_path: Path, tls: TlsConfig | None = None) -> None:
        self.port = free_port()
        self.config = ScpConfig(port=self.port, allowed_calling_aets=(PACS_AET,), tls=tls)
        self.spool = Spool.open(tmp_path / "spool")
        self.stats = Stats()
        self.server: ThreadedAssociationServer = scp.start(self.config, self.spool, self.stats)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Running]:
    running = Running(tmp_path)
    yield running
    running.server.shutdown()


def test_a_pacs_sends_a_study_and_every_instance_is_spooled(gateway: Running) -> None:
    study = make_study(n_series=2, n_instances=3, with_sr=True)
    assert c_store(gateway.port, study) == [0x0000] * 7
    assert gateway.spool.depth()[0] == 7
    assert gateway.stats.snapshot()["received"] == 7
    # One study directory: the instances are grouped by their (hashed) Study UID.
    assert len(list(gateway.spool.ready.iterdir())) == 1


def test_an_unknown_calling_ae_title_is_rejected_at_association(gateway: Running) -> None:
    assert c_store(gateway.port, make_study(n_series=1, n_instances=1), calling="INTRUDER") == []
    assert gateway.spool.depth()[0] == 0
    assert gateway.stats.snapshot()["associations_rejected"] == 1


def test_c_echo_answers(gateway: Running) -> None:
    ae = AE(ae_title=PACS_AET)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", gateway.port, ae_title="SALUDTECH_GW")
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_a_failed_write_is_answered_out_of_resources(gateway: Running, tmp_path: Path) -> None:
    gateway.spool.ops = RecordingOps(gateway.spool.root, fail_on="fsync")
    assert c_store(gateway.port, make_study(n_series=1, n_instances=2, with_sr=False)) == [
        0xA700,
        0xA700,
    ]
    assert gateway.spool.depth()[0] == 0


@pytest.mark.skipif(shutil.which("storescu") is None, reason=STORESCU_MISSING)
def test_dcmtk_storescu_sends_a_study(gateway: Running, tmp_path: Path) -> None:
    files = write_study(make_study(n_series=1, n_instances=4, with_sr=False), tmp_path / "pacs")
    storescu(gateway.port, files)
    assert gateway.spool.depth()[0] == 4
    # Spooled as sent (the file meta is the receiver's, the dataset the sender's).
    spooled = {(ds.SOPInstanceUID, ds.PixelData) for ds in map(dcmread, _paths(gateway))}
    assert spooled == {(ds.SOPInstanceUID, ds.PixelData) for ds in map(dcmread, files)}


def _paths(gateway: Running) -> list[Path]:
    return [entry.path for entry in gateway.spool.pending()]


def _certificate(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_with_client_certificates(tmp_path: Path) -> None:
    server_cert, server_key = _certificate(tmp_path, "gateway")
    pacs_cert, pacs_key = _certificate(tmp_path, "pacs")
    running = Running(tmp_path, TlsConfig(server_cert, server_key, ca=pacs_cert))
    try:
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_cert))
        client.check_hostname = False
        client.load_cert_chain(str(pacs_cert), str(pacs_key))
        study = make_study(n_series=1, n_instances=2, with_sr=False)
        assert c_store(running.port, study, tls=client) == [0, 0]
        # Without a certificate the PACS is not let in; nor in plain text.
        anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_cert))
        anonymous.check_hostname = False
        assert c_store(running.port, study, tls=anonymous) == []
        assert c_store(running.port, study) == []
        assert running.spool.depth()[0] == 2
    finally:
        running.server.shutdown()
