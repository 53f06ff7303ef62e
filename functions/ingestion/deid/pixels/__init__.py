"""Burned-in text: detected in the pixels, masked, verified, written back losslessly."""

from .cleaner import CleanedPixels, HeaderEdit, clean_pixels, source_window
from .detector import DetectorUnavailable, available, detector_name
from .encode import Payload
from .screen import PIXEL_SCREEN_ENV
from .summary import CleaningMethod, PixelCleaning

__all__ = [
    "PIXEL_SCREEN_ENV",
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
