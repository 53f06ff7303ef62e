"""Burned-in text: detected in the pixels, masked, verified, written back losslessly."""

from .cleaner import CleanedPixels, HeaderEdit, clean_pixels, source_window
from .detector import DetectorUnavailable, available, detector_name
from .encode import Payload
from .summary import CleaningMethod, PixelCleaning

__all__ = [
    "CleanedPixels",
    "CleaningMethod",
    "DetectorUnavailable",
    "HeaderEdit",
    "Payload",
    "PixelCleaning",
    "available",
    "clean_pixels",
    "detector_name",
    "source_window",
]
