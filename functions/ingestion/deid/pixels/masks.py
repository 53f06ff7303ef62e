"""Rectangles of text, the mask they make over a frame, and where two frames differ."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Pixels of margin around a detected line: the detector's box hugs the glyphs, anti-aliased
# edges and descenders reach a little further.
MARGIN = 4


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in pixel coordinates, right and bottom exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @staticmethod
    def clipped(
        left: int, top: int, right: int, bottom: int, *, width: int, height: int
    ) -> Box | None:
        box = Box(max(0, left), max(0, top), min(width, right), min(height, bottom))
        return box if box.right > box.left and box.bottom > box.top else None

    def grown(self, margin: int, width: int, height: int) -> Box:
        grown = Box.clipped(
            self.left - margin,
            self.top - margin,
            self.right + margin,
            self.bottom + margin,
            width=width,
            height=height,
        )
        return grown if grown is not None else self

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.left + dx, self.top + dy, self.right + dx, self.bottom + dy)

    def overlaps(self, other: Box) -> bool:
        return (
            self.left < other.right
            and other.left < self.right
            and self.top < other.bottom
            and other.top < self.bottom
        )

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


class Mask:
    """The union of the masked rectangles of an image, the same for all its frames."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.boxes: list[Box] = []
        self.pixels = np.zeros((height, width), dtype=bool)

    def add(self, boxes: list[Box]) -> int:
        """Add boxes (with the margin); returns how many were not already covered."""
        added = 0
        for box in boxes:
            grown = box.grown(MARGIN, self.width, self.height)
            region = self.pixels[grown.top : grown.bottom, grown.left : grown.right]
            if region.all():
                continue
            region[...] = True
            self.boxes.append(grown)
            added += 1
        return added

    def apply(self, frame: npt.NDArray[np.generic], fill: npt.NDArray[np.generic]) -> None:
        """Paint the masked pixels of ``frame`` (rows, columns[, samples]) with ``fill``."""
        frame[self.pixels] = fill

    @property
    def masked_pixels(self) -> int:
        return int(self.pixels.sum())


def changed_region(
    frame: npt.NDArray[np.generic], previous: npt.NDArray[np.generic], margin: int
) -> Box | None:
    """Bounding box (with margin) of the pixels where two frames differ, None if identical."""
    diff = frame != previous
    if diff.ndim == 3:
        diff = diff.any(axis=2)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff.any(axis=0))
    height, width = diff.shape
    return Box.clipped(
        int(cols[0]) - margin,
        int(rows[0]) - margin,
        int(cols[-1]) + 1 + margin,
        int(rows[-1]) + 1 + margin,
        width=width,
        height=height,
    )
