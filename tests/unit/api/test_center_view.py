"""A center's view through /v1 (docs/ingestion.md, "A center's view"): what became of each
upload (an object or a zip package) and each study, its own only; another center's upload
or study is answered exactly like a missing one. Ingestion runs in process on the api's
platform, so what is read is what the pipeline recorded."""

from __future__ import annotations

from typing import Any

from tests.unit.api.conftest import Api
from tests.unit.ingestion.conftest import deliver_entries
from tests.unit.ingestion.helpers import deliver_upload, study, upload, zipped


def _uploads(api: Api, token: str, **query: str) -> list[dict[str, Any]]:
    answer = api.call("GET", "/v1/uploads", token=token, query=query)
    assert answer.status == 200, answer.body
    items: list[dict[str, Any]] = answer.body["items"]
    return items


def test_a_center_follows_its_uploads_and_studies_and_sees_no_other_centers(api: Api) -> None:
    images = study(n_instances=2, seed=27)
    p = api.platform
    deliver_upload(upload(p, "hospital-1/a.dcm", images[0]))
    deliver_upload(upload(p, "hospital-1/a-again.dcm", images[0]))
    deliver_upload(upload(p, "hospital-1/bad.dcm", b"not a dicom file at all"))
    # hospital-2 refers the patient: the same study, as a package.
    deliver_upload(upload(p, "hospital-2/study.zip", zipped({"0.dcm": images[0], "1.dcm": images[1]}),
                          content_type="application/zip"))  # fmt: skip
    deliver_entries(p)
    first, second = api.login("center-a"), api.login("center-b")

    mine = _uploads(api, first)
    assert sorted(u["status"] for u in mine) == ["deidentified", "duplicate", "quarantined"]
    [bad] = _uploads(api, first, status="quarantined")
    assert bad["reason"] == "not_dicom" and bad["kind"] == "object"
    [done] = _uploads(api, first, status="deidentified")
    one = api.call("GET", f"/v1/uploads/{done['upload_id']}", token=first)
    assert one.status == 200 and one.body["image_id"] == done["image_id"]

    [package] = _uploads(api, second)
    assert package["kind"] == "package" and package["status"] == "complete"
    seen = api.call("GET", f"/v1/uploads/{package['upload_id']}", token=second).body
    assert seen["entries"] == {"deidentified": 2, "duplicate": 0, "quarantined": 0, "pending": 0}
    # The referral is hospital-2's own: nothing says another center sent it first.
    assert "hospital-1" not in str(seen) and seen["quarantined"] == []

    # Studies: each center its own copy, under its own ids.
    [study_a] = {i["study_id"] for i in api.call("GET", "/v1/images", token=first).body["items"]}
    [study_b] = seen["study_ids"]
    assert study_a != study_b
    own = api.call("GET", f"/v1/studies/{study_b}", token=second).body
    assert own["images"] == 2 and own["uploads"] == [package["upload_id"]]
    assert [s["images"] for s in own["series"]] == [2]
    assert all(i["upload_id"] == package["upload_id"] for i in own["items"])

    # Another center's upload or study is missing, exactly like one that does not exist.
    for path in (f"/v1/uploads/{package['upload_id']}", f"/v1/studies/{study_b}"):
        theirs = api.call("GET", path, token=first)
        missing = api.call("GET", path.rsplit("/", 1)[0] + "/nope", token=first)
        assert theirs.status == missing.status == 404
        assert theirs.body == missing.body
    assert api.call("GET", f"/v1/studies/{study_a}", token=second).status == 404


def test_only_centers_read_uploads_and_a_bad_status_is_refused(api: Api) -> None:
    client = api.login("client-a")
    assert api.call("GET", "/v1/uploads", token=client).status == 403
    assert api.call("GET", "/v1/studies/x", token=client).status == 403
    refused = api.call("GET", "/v1/uploads", token=api.login("center-a"), query={"status": "x"})
    assert refused.status == 400
