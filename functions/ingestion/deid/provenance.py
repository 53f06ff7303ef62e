"""What was done to an object, recorded in it as PS3.15 asks and returned without PHI.

The header gets Patient Identity Removed = YES, De-identification Method (free text) and
De-identification Method Code Sequence with the CID 7050 codes of the profile and of every
option used, plus Longitudinal Temporal Information Modified.
"""

from __future__ import annotations

from dataclasses import dataclass

from .element_tree import Element, text_element
from .options import DeidOptions
from .profile import PROFILE_NAME
from .table_e1_1 import TABLE_EDITION

ENGINE_NAME = "SALUDTECH-DEID"
ENGINE_VERSION = "1.0"

# CID 7050 De-identification Method
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
PATIENT_CHARS = ("113108", "Retain Patient Characteristics Option")
DEVICE_IDENTITY = ("113109", "Retain Device Identity Option")
INSTITUTION_IDENTITY = ("113112", "Retain Institution Identity Option")
CLEAN_DESCRIPTORS = ("113105", "Clean Descriptors Option")
SAFE_PRIVATE = ("113111", "Retain Safe Private Option")
CLEAN_PIXEL_DATA = ("113101", "Clean Pixel Data Option")


@dataclass(frozen=True, slots=True)
class Provenance:
    """PHI-free record of the method: profile, table edition, options and their codes."""

    profile: str
    table_edition: str
    engine: str
    options: tuple[str, ...]
    method_codes: tuple[tuple[str, str], ...]
    longitudinal_temporal_information: str

    def as_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "table_edition": self.table_edition,
            "engine": self.engine,
            "options": list(self.options),
            "method_codes": [
                {"code": c, "meaning": m, "scheme": "DCM"} for c, m in self.method_codes
            ],
            "longitudinal_temporal_information": self.longitudinal_temporal_information,
        }


def build_provenance(options: DeidOptions, *, clean_pixel_data: bool = False) -> Provenance:
    """The provenance record for a set of options (the same for every object).

    ``clean_pixel_data``: the variant for images whose pixels were checked for burned-in
    text (and masked where text was found), which adds the Clean Pixel Data Option.
    """
    codes = [BASIC_PROFILE]
    names: list[str] = []
    for enabled, code, name in (
        (options.retain_longitudinal_modified_dates, MODIFIED_DATES, "retain_modified_dates"),
        (options.retain_patient_characteristics, PATIENT_CHARS, "retain_patient_chars"),
        (options.retain_device_identity, DEVICE_IDENTITY, "retain_device_identity"),
        (options.retain_institution_identity, INSTITUTION_IDENTITY, "retain_institution_id"),
        (options.clean_descriptors, CLEAN_DESCRIPTORS, "clean_descriptors"),
        (bool(options.retain_safe_private), SAFE_PRIVATE, "retain_safe_private"),
        (clean_pixel_data, CLEAN_PIXEL_DATA, "clean_pixel_data"),
    ):
        if enabled:
            codes.append(code)
            names.append(name)
    temporal = "MODIFIED" if options.retain_longitudinal_modified_dates else "REMOVED"
    return Provenance(
        profile=PROFILE_NAME,
        table_edition=TABLE_EDITION,
        engine=f"{ENGINE_NAME} {ENGINE_VERSION}",
        options=tuple(names),
        method_codes=tuple(codes),
        longitudinal_temporal_information=temporal,
    )


def provenance_elements(provenance: Provenance) -> tuple[Element, ...]:
    """The PS3.15 provenance attributes as ready-encoded elements (same for every object).

    De-identification Method is LO (64 characters a value): one short value per fact.
    """
    methods = [
        provenance.engine,
        "PS3.15 E.1-1 " + provenance.table_edition.split()[2],
        *[name.upper() for name in provenance.options],
    ]
    items = [
        [
            text_element(0x00080100, "SH", code),
            text_element(0x00080102, "SH", "DCM"),
            text_element(0x00080104, "LO", meaning),
        ]
        for code, meaning in provenance.method_codes
    ]
    return (
        text_element(0x00120062, "CS", "YES"),
        text_element(0x00120063, "LO", "\\".join(methods)),
        Element(0x00120064, "SQ", None, items),
        text_element(0x00280303, "CS", provenance.longitudinal_temporal_information),
    )
