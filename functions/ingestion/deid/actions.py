"""Action codes of Table E.1-1 and how a combined code is resolved for one object's IOD.

Resolution rule (documented in docs/deid.md): a combined code offers the choices that keep
the object valid for its IOD. We look up the attribute's type in the object's IOD from a
small table of the attributes whose type differs between IODs (``_TYPE_RULES``); anything
not listed is treated as Type 3 for ``X/...`` codes and Type 2 for ``Z/D``. Then:
Type 1 -> D (or U), Type 2 -> Z (or D when Z is not offered), Type 3 -> X.
``X/Z/U*`` sequences are always kept with every UID inside remapped (U*): that is the only
choice valid at every nesting depth and it keeps references between objects intact, while
everything else inside the items still goes through the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    """Single actions of Table E.1-1a."""

    REMOVE = "X"
    EMPTY = "Z"
    DUMMY = "D"
    KEEP = "K"
    CLEAN = "C"
    UID = "U"
    KEEP_REMAP = "U*"  # keep a sequence, remap the UIDs it holds (from X/Z/U*)


@dataclass(frozen=True, slots=True)
class IodContext:
    """The few facts about an object that decide the type of the combined-code attributes."""

    sop_class_uid: str
    modality: str
    enhanced: bool
    species: bool
    approval_status: str

    @property
    def is_sr(self) -> bool:
        return self.sop_class_uid.startswith("1.2.840.10008.5.1.4.1.1.88.")

    @property
    def is_rt(self) -> bool:
        return self.sop_class_uid.startswith("1.2.840.10008.5.1.4.1.1.481.")

    @property
    def is_waveform(self) -> bool:
        return self.sop_class_uid.startswith("1.2.840.10008.5.1.4.1.1.9.")

    @property
    def is_functional_group(self) -> bool:
        """A multi-frame functional group IOD: by its functional groups or by its class.

        Some enhanced objects in the wild lack the Shared Functional Groups Sequence; their
        class still makes Content Date, Acquisition DateTime and the device Type 1.
        """
        return self.enhanced or self.sop_class_uid in _FUNCTIONAL_GROUP_CLASSES


TypeRule = Callable[[IodContext], int]

_FUNCTIONAL_GROUP_CLASSES = frozenset(
    "1.2.840.10008.5.1.4.1.1." + suffix
    for suffix in (
        "2.1",
        "2.2",  # Enhanced CT, Legacy Converted Enhanced CT
        "4.1",
        "4.2",
        "4.3",
        "4.4",  # Enhanced MR, MR Spectroscopy, Enhanced MR Color, Legacy
        "128.1",
        "130",  # Legacy Converted Enhanced PET, Enhanced PET
        "6.2",
        "6.3",  # Enhanced US Volume, Photoacoustic
        "12.1.1",
        "12.2.1",  # Enhanced XA, Enhanced XRF
        "13.1.1",
        "13.1.2",
        "13.1.3",  # X-Ray 3D Angiographic / Craniofacial, Breast Tomo
        "14.1",
        "14.2",  # Intravascular OCT
        "30",
        "66.4",  # Parametric Map, Segmentation
        "77.1.5.4",
        "77.1.5.7",
        "77.1.5.8",  # Ophthalmic tomography and OCT B-scan/en face
    )
)

# Attributes whose type depends on the IOD, with the IODs that make them Type 1 or 2.
_TYPE_RULES: dict[int, TypeRule] = {
    # Content Date/Time: SR Document General, MF Functional Groups, Waveform Identification.
    0x00080023: lambda c: 1 if c.is_sr or c.is_functional_group or c.is_waveform else 2,
    0x00080033: lambda c: 1 if c.is_sr or c.is_functional_group or c.is_waveform else 2,
    # Acquisition DateTime: MF functional groups, Waveform Identification.
    0x0008002A: lambda c: 1 if c.is_functional_group or c.is_waveform else 3,
    0x00081111: lambda c: 2 if c.is_sr else 3,  # Referenced PPS Sequence (SR Document Series)
    0x00080021: lambda c: 1 if c.modality == "PT" else 3,  # Series Date (PET Series)
    0x00080031: lambda c: 1 if c.modality == "PT" else 3,  # Series Time (PET Series)
    0x00081070: lambda c: 2 if c.is_rt else 3,  # Operators' Name (RT Series)
    0x00181000: lambda c: 1 if c.is_functional_group else 3,  # Device Serial (Enh. Equipment)
    0x00102203: lambda c: 2 if c.species else 3,  # Patient's Sex Neutered (veterinary)
    0x00400555: lambda c: 2,  # Acquisition Context Sequence
    0x300A00B2: lambda c: 2 if c.is_rt else 3,  # Treatment Machine Name (RT Beams)
    0x300A0006: lambda c: 2 if c.is_rt else 3,  # RT Plan Date (RT General Plan)
    0x300A0007: lambda c: 2 if c.is_rt else 3,  # RT Plan Time
    0x300E0008: lambda c: 2 if c.approval_status in {"APPROVED", "REJECTED"} else 3,
}

_SINGLE = {a.value: a for a in Action}


def iod_type(tag: int, code: str, ctx: IodContext) -> int:
    """Type (1, 2 or 3) of ``tag`` in the object's IOD, as far as the resolution needs it."""
    rule = _TYPE_RULES.get(tag)
    if rule is not None:
        return rule(ctx)
    return 2 if code == "Z/D" else 3


def resolve(tag: int, code: str, ctx: IodContext) -> Action:
    """Resolve one (possibly combined) code of the table into a single action."""
    single = _SINGLE.get(code)
    if single is not None:
        return single
    if code == "X/Z/U*":
        return Action.KEEP_REMAP
    choices = code.split("/")
    required = iod_type(tag, code, ctx)
    if required == 1:
        return Action.DUMMY if "D" in choices else Action.EMPTY
    if required == 2:
        return Action.EMPTY if "Z" in choices else Action.DUMMY
    return Action.REMOVE if "X" in choices else Action.EMPTY


def is_combined(code: str) -> bool:
    """True for codes that need the object's IOD to be resolved."""
    return code not in _SINGLE
