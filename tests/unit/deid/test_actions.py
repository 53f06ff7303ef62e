"""Every action code of Table E.1-1, on purpose-built datasets, at every nesting depth."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from functions.ingestion.deid.actions import Action, IodContext, resolve
from functions.ingestion.deid.pseudonyms import Pseudonymizer

from .conftest import Run
from .helpers import KEY, minimal, to_bytes

CT = "1.2.840.10008.5.1.4.1.1.2"
SR = "1.2.840.10008.5.1.4.1.1.88.33"
RT_PLAN = "1.2.840.10008.5.1.4.1.1.481.5"


def ctx(
    sop: str = CT,
    modality: str = "CT",
    enhanced: bool = False,
    species: bool = False,
    approval: str = "",
) -> IodContext:
    return IodContext(sop, modality, enhanced, species, approval)


def item(**attrs: object) -> Dataset:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


# -- resolution of combined codes --------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "code", "context", "expected"),
    [
        (0x00080023, "Z/D", ctx(), Action.EMPTY),  # Content Date, CT: type 2
        (0x00080023, "Z/D", ctx(SR, "SR"), Action.DUMMY),  # SR: type 1
        (0x00400555, "X/Z", ctx(), Action.EMPTY),  # Acquisition Context Sequence: type 2
        (0x00102203, "X/Z", ctx(), Action.REMOVE),  # Sex Neutered, human: type 3
        (0x00102203, "X/Z", ctx(species=True), Action.EMPTY),  # veterinary: type 2
        (0x00080021, "X/D", ctx(), Action.REMOVE),  # Series Date, CT: type 3
        (0x00080021, "X/D", ctx(modality="PT"), Action.DUMMY),  # PET Series: type 1
        (0x300A0006, "X/D", ctx(RT_PLAN, "RTPLAN"), Action.DUMMY),  # type 2 without Z -> D
        (0x00081070, "X/Z/D", ctx(), Action.REMOVE),  # Operators' Name
        (0x00081070, "X/Z/D", ctx(RT_PLAN, "RTPLAN"), Action.EMPTY),  # RT Series: type 2
        (0x00181000, "X/Z/D", ctx(enhanced=True), Action.DUMMY),  # Enhanced Equipment: type 1
        (0x00081140, "X/Z/U*", ctx(), Action.KEEP_REMAP),
        (0x00100010, "Z", ctx(), Action.EMPTY),
        (0x00100020, "K", ctx(), Action.KEEP),
    ],
)
def test_combined_codes_resolve_by_iod_type(
    tag: int, code: str, context: IodContext, expected: Action
) -> None:
    assert resolve(tag, code, context) is expected


# -- each action applied -----------------------------------------------------------------------
def test_x_removes(run: Run) -> None:
    _, out = run(minimal(OtherPatientIDs="MRN-1", PatientAddress="1 CALLE"))
    assert out is not None
    assert "OtherPatientIDs" not in out
    assert "PatientAddress" not in out


def test_z_empties_and_patient_identity_becomes_the_token(run: Run) -> None:
    result, out = run(minimal(AccessionNumber="ACC-55", PatientBirthDate="19700101"))
    assert out is not None
    assert "AccessionNumber" in out and out.AccessionNumber == ""
    assert out.PatientBirthDate == ""
    assert out.PatientID == result.patient_token
    assert str(out.PatientName) == result.patient_token


def test_d_replaces_with_dummy(run: Run) -> None:
    _, out = run(minimal(XRaySourceID="TUBE-9", VerifyingObserverName="HOUSE^G"))
    assert out is not None
    assert out.XRaySourceID == "ANONYMIZED"
    assert str(out.VerifyingObserverName) == "ANONYMIZED"


def test_k_keeps_attributes_outside_the_table(run: Run) -> None:
    _, out = run(minimal(SliceThickness="1.25", BodyPartExamined="CHEST"))
    assert out is not None
    assert out.SliceThickness == 1.25
    assert out.BodyPartExamined == "CHEST"
    assert out.Modality == "CT"


def test_u_remaps_uids_everywhere_consistently(run: Run) -> None:
    ds = minimal(FrameOfReferenceUID="1.2.826.0.1.3680043.10.1347.1.9")
    ds.ReferencedSeriesSequence = Sequence(
        [
            item(
                SeriesInstanceUID=ds.SeriesInstanceUID,
                ReferencedInstanceSequence=Sequence(
                    [item(ReferencedSOPClassUID=CT, ReferencedSOPInstanceUID=ds.SOPInstanceUID)]
                ),
            )
        ]
    )
    result, out = run(ds)
    assert out is not None
    p = Pseudonymizer(KEY)
    assert out.StudyInstanceUID == p.uid(ds.StudyInstanceUID) == result.study_uid
    assert out.FrameOfReferenceUID == p.uid(ds.FrameOfReferenceUID)
    nested = out.ReferencedSeriesSequence[0]
    assert nested.SeriesInstanceUID == out.SeriesInstanceUID
    assert nested.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == out.SOPInstanceUID
    assert nested.ReferencedInstanceSequence[0].ReferencedSOPClassUID == CT
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID


def test_x_z_u_star_keeps_references_with_remapped_uids(run: Run) -> None:
    ds = minimal()
    ds.ReferencedImageSequence = Sequence(
        [item(ReferencedSOPClassUID=CT, ReferencedSOPInstanceUID="1.2.826.0.1.3680043.10.1347.7")]
    )
    _, out = run(ds)
    assert out is not None
    ref = out.ReferencedImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == Pseudonymizer(KEY).uid("1.2.826.0.1.3680043.10.1347.7")


def test_z_d_on_ct_empties_and_on_sr_dummies(run: Run) -> None:
    _, ct = run(minimal(ContentDate="20240105"))
    assert ct is not None and ct.ContentDate == ""
    sr = minimal(ContentDate="20240105", Modality="SR", SOPClassUID=SR)
    sr.file_meta.MediaStorageSOPClassUID = UID(SR)
    _, out = run(sr)
    assert out is not None and out.ContentDate == "19000101"


def test_x_z_d_removes_on_ct(run: Run) -> None:
    _, out = run(
        minimal(
            InstitutionName="HOSPITAL X",
            StationName="CT01",
            OperatorsName="TECH^A",
            DeviceSerialNumber="SN1",
        )
    )
    assert out is not None
    for keyword in ("InstitutionName", "StationName", "OperatorsName", "DeviceSerialNumber"):
        assert keyword not in out


def test_c_cleans_descriptors_of_identity(run: Run) -> None:
    from functions.ingestion.deid import DeidOptions

    ds = minimal(StudyDescription="CT CHEST PEREZ ID-778812 2024-01-05", SeriesDescription="AX")
    _, out = run(ds, DeidOptions(clean_descriptors=True))
    assert out is not None
    assert "PEREZ" not in out.StudyDescription
    assert "778812" not in out.StudyDescription
    assert "2024" not in out.StudyDescription
    assert out.StudyDescription.startswith("CT CHEST")
    assert out.SeriesDescription == "AX"


def test_private_overlay_curve_and_group_length_are_removed(run: Run) -> None:
    ds = minimal()
    block = ds.private_block(0x0011, "ACME", create=True)
    block.add_new(0x01, "LO", "PEREZ^LUCIA")
    ds.add_new(0x60000022, "LO", "overlay of PEREZ")
    ds.add_new(0x60003000, "OW", b"\x00" * 8)
    ds.add_new(0x50002500, "LO", "curve")
    ds.add_new(0x00180000, "UL", 0)
    _, out = run(ds)
    assert out is not None
    assert not [e for e in out.iterall() if e.tag.is_private]
    assert all(not (0x5000 <= e.tag.group <= 0x60FF) for e in out.iterall())
    assert 0x00180000 not in out


def test_table_applies_at_depth_three_inside_kept_sequences(run: Run) -> None:
    ds = minimal()
    ds.ContributingEquipmentSequence = Sequence(
        [
            item(
                Manufacturer="ACME",
                InstitutionName="HOSPITAL X",
                OperatorIdentificationSequence=Sequence(
                    [
                        item(
                            PersonName="HOUSE^G",
                            InstitutionName="DEEP HOSPITAL",
                        )
                    ]
                ),
            )
        ]
    )
    _, out = run(ds)
    assert out is not None
    equipment = out.ContributingEquipmentSequence[0]
    assert equipment.Manufacturer == "ACME"
    assert "InstitutionName" not in equipment
    assert "OperatorIdentificationSequence" not in equipment


def test_names_outside_the_table_are_replaced(run: Run) -> None:
    ds = minimal(EvaluatorName="WILSON^J")  # PN, not listed by Table E.1-1
    ds.EvaluatorSequence = Sequence([item(EvaluatorName="HOUSE^G")])
    _, out = run(ds)
    assert out is not None
    assert str(out.EvaluatorName) == "ANONYMIZED"
    assert str(out.EvaluatorSequence[0].EvaluatorName) == "ANONYMIZED"


def test_sr_content_tree_is_deidentified_at_every_depth(run: Run) -> None:
    text = item(
        RelationshipType="CONTAINS", ValueType="TEXT", TextValue="PEREZ LUCIA ID-778812 nodule"
    )
    person = item(RelationshipType="HAS OBS CONTEXT", ValueType="PNAME", PersonName="HOUSE^G")
    when = item(RelationshipType="HAS OBS CONTEXT", ValueType="DATE", Date="20240105")
    uidref = item(
        RelationshipType="HAS OBS CONTEXT",
        ValueType="UIDREF",
        UID="1.2.826.0.1.3680043.10.1347.1.2",
    )
    deep = item(
        RelationshipType="CONTAINS",
        ValueType="CONTAINER",
        ContentSequence=Sequence(
            [item(RelationshipType="CONTAINS", ValueType="TEXT", TextValue="seen by HOUSE")]
        ),
    )
    ds = minimal(
        SOPClassUID=SR,
        Modality="SR",
        ValueType="CONTAINER",
        ContentSequence=Sequence([text, person, when, uidref, deep]),
    )
    ds.file_meta.MediaStorageSOPClassUID = UID(SR)
    _, out = run(ds)
    assert out is not None
    content = out.ContentSequence
    assert content[0].TextValue == "ANONYMIZED"
    assert str(content[1].PersonName) == "ANONYMIZED"
    assert content[2].Date == "19000101"
    assert out.StudyInstanceUID == content[3].UID
    assert content[4].ContentSequence[0].TextValue == "ANONYMIZED"
    assert content[0].ValueType == "TEXT"  # structure kept


def test_provenance_is_recorded_in_the_object_and_the_result(run: Run) -> None:
    result, out = run(minimal())
    assert out is not None
    assert out.PatientIdentityRemoved == "YES"
    codes = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100"]
    assert all(i.CodingSchemeDesignator == "DCM" for i in out.DeidentificationMethodCodeSequence)
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert "PS3.15" in " ".join(out.DeidentificationMethod)
    prov = result.provenance.as_dict()
    assert prov["table_edition"] == result.provenance.table_edition
    assert prov["method_codes"][0]["code"] == "113100"  # type: ignore[index]


def test_result_never_carries_phi(run: Run) -> None:
    import json

    ds = minimal(StudyDescription="PEREZ", AccessionNumber="ACC-55", StudyDate="20240105")
    result, _ = run(ds)
    text = json.dumps(result.as_dict())
    for value in ("PEREZ", "LUCIA", "778812", "ACC-55", "20240105", ds.SOPInstanceUID):
        assert value not in text


def test_file_meta_elements_inside_the_data_set_are_dropped(run: Run) -> None:
    nested = item(Manufacturer="ACME")
    nested.add_new(0x00020016, "AE", "SENDER_PACS")  # Source Application Entity Title
    ds = minimal(ContributingEquipmentSequence=Sequence([nested]))
    result, out = run(ds)
    assert result.ok and out is not None
    assert 0x00020016 not in out.ContributingEquipmentSequence[0]
    assert "SourceApplicationEntityTitle" not in out.file_meta


def test_attributes_outside_the_table_are_hardened(run: Run) -> None:
    from functions.ingestion.deid import DeidOptions

    ds = minimal()
    ds.add_new(0x00209241, "UI", "1.2.826.0.1.3680043.10.1347.1.2")  # instance-like UID
    ds.add_new(0x0008010C, "UI", "1.2.826.0.1.3680043.10.1347.77")  # Coding Scheme UID
    ds.add_new(0x00181204, "DA", "20240105")  # Date of Manufacture: not in the table
    ds.add_new(0x00230010, "LO", "kept?")  # private: dropped anyway
    _, out = run(ds)
    assert out is not None
    assert out[0x00209241].value == out.StudyInstanceUID  # same mapping: links hold
    assert out[0x0008010C].value == "1.2.826.0.1.3680043.10.1347.77"
    assert out[0x00181204].value == "19000101"
    _, shifted = run(ds, DeidOptions(retain_longitudinal_modified_dates=True))
    assert shifted is not None
    assert shifted[0x00181204].value not in ("20240105", "19000101", "")


def test_unknown_public_tags_are_removed(run: Run) -> None:
    data = bytearray(to_bytes(minimal(StudyID="S1")))
    # Turn Study ID (0020,0010) into (0020,001A), a tag no dictionary knows.
    marker = b"\x20\x00\x10\x00SH"
    at = data.find(marker)
    assert at > 0
    data[at + 2 : at + 4] = b"\x1a\x00"
    _, out = run(bytes(data))
    assert out is not None
    assert 0x0020001A not in out
