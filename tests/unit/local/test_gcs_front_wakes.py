"""Which writes wake the notification relay: those fake-gcs-server may notify, read from
its own flags, so writes to other buckets cost the emulator no extra pulls."""

from __future__ import annotations

from infra.local.gcs_front import Notified

INGEST = "saludtech-local-ingest"
FLAGS = ["fake-gcs-server", "-event.list", "finalize", "-event.bucket", INGEST, "-scheme", "http"]


def test_an_upload_to_the_notified_bucket_wakes_the_relay() -> None:
    notified = Notified.from_flags(FLAGS)
    assert notified.may_follow("POST", f"/upload/storage/v1/b/{INGEST}/o?uploadType=multipart")
    assert notified.may_follow("PUT", f"/upload/storage/v1/b/{INGEST}/o?upload_id=abc")
    copy = f"/storage/v1/b/other/o/a.dcm/copyTo/b/{INGEST}/o/b.dcm"
    assert notified.may_follow("POST", copy)


def test_other_buckets_reads_and_unnotified_events_do_not() -> None:
    notified = Notified.from_flags(FLAGS)
    assert not notified.may_follow("POST", "/upload/storage/v1/b/saludtech-local-anonymized/o")
    assert not notified.may_follow("GET", f"/storage/v1/b/{INGEST}/o/a.dcm")
    assert not notified.may_follow("DELETE", f"/storage/v1/b/{INGEST}/o/a.dcm")
    # A bucket whose name only starts like the notified one is another bucket.
    assert not notified.may_follow("POST", f"/upload/storage/v1/b/{INGEST}-2/o")


def test_without_a_bucket_flag_every_bucket_is_notified_for_the_listed_events() -> None:
    notified = Notified.from_flags(["fake-gcs-server", "-event.list", "delete,finalize"])
    assert notified.may_follow("DELETE", "/storage/v1/b/any/o/a.dcm")
    assert notified.may_follow("POST", "/upload/storage/v1/b/any/o")
    assert not notified.may_follow("PATCH", "/storage/v1/b/any/o/a.dcm")
