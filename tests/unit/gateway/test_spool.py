"""The spool: fsync before the acknowledgement, no UIDs in names, resume after a restart."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway import scp
from gateway.spool import Entry, Spool, plan_batches
from gateway.status import Stats
from tests.unit.gateway.fakes import RecordingOps, StoreEvent, instances, uids_of


def test_an_instance_is_fsynced_file_and_directories_before_the_success_is_answered(
    tmp_path: Path,
) -> None:
    ops = RecordingOps(tmp_path)
    spool = Spool.open(tmp_path, ops)
    ops.calls.clear()
    (data,) = instances(1)
    status = scp.handle_store(StoreEvent(data), spool, Stats())
    ops.calls.append(("ack", f"0x{status:04X}"))

    operations = [operation for operation, _ in ops.calls]
    assert operations == [
        "create", "fsync",            # the bytes, in incoming/
        "fsync_dir",                  # ready/ (the study's directory is new)
        "replace", "fsync_dir",       # the rename into ready/<study>/, then that directory
        "fsync_dir",                  # incoming/ (the part's name is gone from it)
        "ack",
    ]  # fmt: skip
    assert ops.calls[-1] == ("ack", "0x0000")
    created, renamed = ops.calls[0][1], ops.calls[3][1]
    assert created.startswith("incoming/") and renamed.startswith("ready/")
    assert ops.calls[4] == ("fsync_dir", str(Path(renamed).parent))
    assert ops.calls[5] == ("fsync_dir", "incoming")
    assert (tmp_path / renamed).read_bytes() == data
    # A second instance of the same study: its directory exists, ready/ is not synced again.
    ops.calls.clear()
    assert scp.handle_store(StoreEvent(instances(2)[1]), spool, Stats()) == scp.SUCCESS
    assert [op for op, _ in ops.calls] == ["create", "fsync", "replace", "fsync_dir", "fsync_dir"]


@pytest.mark.parametrize("failing", ["create", "fsync", "replace", "fsync_dir"])
def test_a_failed_write_answers_out_of_resources_and_leaves_nothing(
    tmp_path: Path, failing: str
) -> None:
    ops = RecordingOps(tmp_path)
    spool = Spool.open(tmp_path, ops)
    ops.fail_on = failing
    stats = Stats()
    (data,) = instances(1)
    assert scp.handle_store(StoreEvent(data), spool, stats) == scp.OUT_OF_RESOURCES == 0xA700
    assert list(spool.incoming.iterdir()) == []
    assert stats.snapshot()["store_failed"] == 1
    assert stats.snapshot()["received"] == 0
    assert stats.snapshot()["last_error"] == "spool_write_failed"
    if failing != "fsync_dir":  # a failed directory sync after the rename: the file is
        assert spool.pending() == []  # there, unacknowledged, and sent anyway (harmless)


def test_an_undecodable_dataset_is_refused_without_touching_the_spool(tmp_path: Path) -> None:
    class Broken:
        request = SimpleNamespace(AffectedSOPInstanceUID="1.2.3")

        @property
        def dataset(self) -> None:
            raise ValueError("not DICOM")

    spool = Spool.open(tmp_path)
    assert scp.handle_store(Broken(), spool, Stats()) == scp.CANNOT_UNDERSTAND
    assert spool.pending() == []


def test_names_and_logs_carry_no_uids(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    spool = Spool.open(tmp_path)
    study = instances(3)
    for data in study:
        assert scp.handle_store(StoreEvent(data), spool, Stats()) == scp.SUCCESS
    uids = {uid for data in study for uid in uids_of(data)}
    names = [str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")]
    assert len([n for n in names if n.endswith(".dcm")]) == 3
    for uid in uids:
        # Nor any long run of its digits (a UID's tail is what identifies it).
        assert not any(uid in name or uid[-12:] in name for name in names)
        assert uid not in caplog.text
    assert "DOE" not in " ".join(names) + caplog.text


def test_the_same_uid_gets_the_same_name_on_one_gateway_and_another_elsewhere(
    tmp_path: Path,
) -> None:
    one, again = Spool.open(tmp_path / "a"), Spool.open(tmp_path / "a")
    other = Spool.open(tmp_path / "b")
    assert one.key("1.2.3") == again.key("1.2.3") != other.key("1.2.3")
    assert (tmp_path / "a" / "salt").stat().st_mode & 0o777 == 0o600


def test_a_restart_resumes_the_spool(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    study = instances(4)
    stored = [spool.store([data], "study-uid", f"sop-{n}") for n, data in enumerate(study)]
    # A crash: one batch claimed (mid-upload), a zip half built, a part never acknowledged.
    claimed = spool.claim(plan_batches(spool.pending(), 0, "instance", 0, 1 << 30, 10)[0])
    assert claimed.claim_dir is not None and len(spool.pending()) == 3
    (spool.outgoing / "half.zip").write_bytes(b"PK")
    (spool.incoming / "never-acked.part").write_bytes(b"partial")

    restarted = Spool.open(tmp_path)
    assert sorted(e.path for e in restarted.pending()) == sorted(stored)
    assert sorted(p.read_bytes() for p in stored) == sorted(study)
    assert list(restarted.incoming.iterdir()) == []
    assert list(restarted.outgoing.iterdir()) == []
    assert list(restarted.sending.iterdir()) == []
    assert restarted.depth() == (4, sum(len(d) for d in study))


def test_a_newer_copy_that_arrived_while_claimed_wins_over_the_claimed_one(
    tmp_path: Path,
) -> None:
    spool = Spool.open(tmp_path)
    spool.store([b"old"], "study", "sop")
    spool.claim(plan_batches(spool.pending(), 0, "instance", 0, 1 << 30, 10)[0])
    spool.store([b"new"], "study", "sop")  # the PACS sent it again
    restarted = Spool.open(tmp_path)
    (entry,) = restarted.pending()
    assert entry.path.read_bytes() == b"new"


def _entry(study: str, n: int, mtime: float, size: int = 10) -> Entry:
    return Entry(study, Path(f"/spool/ready/{study}/{n}.dcm"), size, mtime)


def test_a_study_is_sent_once_quiet_and_in_zips_no_larger_than_the_limit() -> None:
    quiet = [_entry("a", n, 100.0 + n) for n in range(5)]
    busy = [_entry("b", n, 108.0 + n) for n in range(3)]
    batches = plan_batches(quiet + busy, 110.0, "study", 5.0, 25, 100)
    # Study a (last arrival 104, quiet for 6 s): 5 x 10 bytes in zips of at most 25 bytes.
    # Study b is still arriving: its full zip goes early, the rest waits.
    assert [(b.study, len(b.entries)) for b in batches] == [
        ("a", 2), ("a", 2), ("a", 1), ("b", 2),
    ]  # fmt: skip
    assert plan_batches(busy[:2], 110.0, "study", 5.0, 25, 100) == []
    many = [_entry("c", n, 109.0) for n in range(7)]
    assert [len(b.entries) for b in plan_batches(many, 110.0, "study", 5.0, 10**6, 3)] == [3, 3]


def test_instance_grouping_sends_each_at_once() -> None:
    entries = [_entry("a", n, 100.0) for n in range(3)]
    batches = plan_batches(entries, 100.0, "instance", 5.0, 1, 1)
    assert [len(b.entries) for b in batches] == [1, 1, 1]


def test_the_spool_keeps_nothing_but_hashed_names_on_disk_after_many_writes(
    tmp_path: Path,
) -> None:
    spool = Spool.open(tmp_path)
    for n in range(20):
        spool.store([os.urandom(64)], "1.2.840.99", f"1.2.840.99.{n}")
    names = {p.name for p in spool.ready.rglob("*")}
    # Hex keys of a fixed length: nothing of the UID's shape (dots, its root) is left.
    assert all(len(name.removesuffix(".dcm")) == 32 for name in names)
    assert all(set(name.removesuffix(".dcm")) <= set("0123456789abcdef") for name in names)
