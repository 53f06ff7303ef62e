"""The Basic Profile compiled for one set of options: a tag -> action-code lookup.

Built once per ``Deidentifier`` from ``table_e1_1`` so the per-element cost in the engine
is a single dict lookup. Repeating groups (curves 50xx, overlays 60xx) and private groups
are matched by group, not by table row.
"""

from __future__ import annotations

from dataclasses import dataclass

from .actions import Action, is_combined
from .options import DeidOptions
from .table_e1_1 import ROWS, TABLE_EDITION

PROFILE_NAME = "Basic Application Level Confidentiality Profile"

# Local hardening beyond Table E.1-1, each with the reason it is needed:
# free text inside SR content trees and presentation-state text objects is not listed by the
# table (the table replaces the whole Content Sequence), but we keep SR trees, so the text
# values inside them must be handled individually.
LOCAL_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("0040A160", "Text Value", "D", "C:C"),
    ("00700006", "Unformatted Text Value", "D", "C:C"),
)


def _option_action(cells: str, letters: frozenset[str]) -> str | None:
    """The action of the enabled option columns of a row; K beats C beats anything else."""
    picked: list[str] = []
    for cell in cells.lstrip("~").split():
        letter, action = cell.split(":")
        if letter in letters:
            picked.append(action)
    for preferred in ("K", "C"):
        if preferred in picked:
            return preferred
    return picked[0] if picked else None


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """Action codes by tag after applying the enabled options."""

    codes: dict[int, str]
    single_actions: dict[int, Action]  # the codes that need no IOD context, pre-resolved
    curves: str
    overlays: str
    private: str
    edition: str = TABLE_EDITION

    def code_for(self, tag: int) -> str | None:
        """Action code for a public, non-repeating tag, or None when the table keeps it."""
        return self.codes.get(tag)


def compile_profile(options: DeidOptions) -> CompiledProfile:
    """Apply the option columns to every row and index the result by tag."""
    letters = options.option_letters
    codes: dict[int, str] = {}
    curves = overlays = private = "X"
    for tag, _name, basic, cells in (*ROWS, *LOCAL_ROWS):
        code = _option_action(cells, letters) or basic
        if tag == "private":
            private = code
        elif tag.startswith("50xx"):
            curves = code
        elif tag.startswith("60xx"):
            overlays = code
        else:
            codes[int(tag, 16)] = code
    single_actions = {tag: Action(code) for tag, code in codes.items() if not is_combined(code)}
    return CompiledProfile(
        codes=codes,
        single_actions=single_actions,
        curves=curves,
        overlays=overlays,
        private=private,
    )
