"""Configuration of the profile: which PS3.15 options are on and which private tags are safe."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SafePrivateTag:
    """One allow-listed private element: its odd group, its private creator and its low byte.

    The block number (the ``xx`` of ``gggg,xxee``) varies from file to file, so the creator
    string, not the block, identifies the element.
    """

    group: int
    creator: str
    element: int

    def __post_init__(self) -> None:
        if not self.group & 1:
            raise ValueError("private groups are odd")
        if not 0 <= self.element <= 0xFF:
            raise ValueError("element is the low byte (00-FF) of the private tag")

    @classmethod
    def parse(cls, spec: str) -> SafePrivateTag:
        """Parse ``GGGG,CREATOR,EE`` (hex group and element byte), as used by the CLI."""
        parts = spec.split(",")
        if len(parts) < 3:
            raise ValueError("expected GGGG,CREATOR,EE")
        group, element, creator = parts[0], parts[-1], ",".join(parts[1:-1])
        return cls(int(group, 16), creator.strip(), int(element, 16))


@dataclass(frozen=True, slots=True)
class DeidOptions:
    """The options of the Basic Application Level Confidentiality Profile that we support.

    Retain UIDs and Retain Full Dates are deliberately absent: UIDs are always remapped
    and dates are either removed or shifted, so nothing here can re-identify a patient.
    """

    retain_longitudinal_modified_dates: bool = False
    retain_patient_characteristics: bool = False
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    clean_descriptors: bool = False
    retain_safe_private: frozenset[SafePrivateTag] = field(default_factory=frozenset)

    @property
    def option_letters(self) -> frozenset[str]:
        """Letters of the option columns in ``table_e1_1`` that are switched on."""
        letters = set()
        if self.retain_longitudinal_modified_dates:
            letters.add("M")
        if self.retain_patient_characteristics:
            letters.add("P")
        if self.retain_device_identity:
            letters.add("D")
        if self.retain_institution_identity:
            letters.add("I")
        if self.clean_descriptors:
            letters.add("C")
        if self.retain_safe_private:
            letters.add("S")
        return frozenset(letters)
