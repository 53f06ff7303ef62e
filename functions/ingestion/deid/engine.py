"""The de-identification engine: one object in, one clean object (or a reason) out.

An object is read into the element tree by ``dicom_io.read_object`` (``run_fast``), straight
from its bytes; the rare object that parser leaves to pydicom (deflated, or encoded against
its transfer syntax) is read by ``pydicom_reader`` into the same tree. Everything after
that, ``deidentify_object``, is one pipeline for every object.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import warnings
from pathlib import Path
from typing import BinaryIO

from pydicom import config as pydicom_config

from .deidentify_object import Engine, deidentify_object
from .dicom_io import OpenedSource, ParsedObject, Source, open_source, read_object
from .element_tree import NeedsFullParser
from .options import DeidOptions
from .profile import compile_profile
from .provenance import ENGINE_NAME, ENGINE_VERSION, build_provenance, provenance_elements
from .pseudonyms import Pseudonymizer
from .pydicom_reader import read_with_pydicom
from .reasons import DeidFailure, Rejection
from .result import DeidResult

_QUIET = threading.local()


class _DropWhileDeidentifying(logging.Filter):
    """pydicom logs warnings that can quote attribute values: none may leave the engine."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_QUIET, "active", False)


logging.getLogger("pydicom").addFilter(_DropWhileDeidentifying())
IMPLEMENTATION_CLASS_UID = "2.25.216744178061946046337352349183146423471"
IMPLEMENTATION_VERSION = f"{ENGINE_NAME[:8]}_{ENGINE_VERSION}"


def run_fast(opened: OpenedSource) -> ParsedObject:
    """The element-tree reader (tests replace it to force the pydicom fallback)."""
    return read_object(opened)


class Deidentifier:
    """De-identifies DICOM objects with one key and one set of options.

    Build one per process (it compiles the profile once) and call :meth:`deidentify`
    for each object. Thread-compatible, not thread-safe (it caches UID mappings).
    """

    def __init__(self, key: bytes, options: DeidOptions | None = None) -> None:
        self.options = options or DeidOptions()
        self._pseudonyms = Pseudonymizer(key)
        self._profile = compile_profile(self.options)
        self.provenance = build_provenance(self.options)
        self.pixel_provenance = build_provenance(self.options, clean_pixel_data=True)
        self._engine = Engine(
            options=self.options,
            profile=self._profile,
            pseudonyms=self._pseudonyms,
            provenance=self.provenance,
            provenance_elements=provenance_elements(self.provenance),
            pixel_provenance=self.pixel_provenance,
            pixel_provenance_elements=provenance_elements(self.pixel_provenance),
            implementation_uid=IMPLEMENTATION_CLASS_UID,
            implementation_version=IMPLEMENTATION_VERSION,
        )
        # pydicom would otherwise warn with attribute values in the message: no PHI in logs.
        pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE
        pydicom_config.settings.writing_validation_mode = pydicom_config.IGNORE

    def _reject(self, reason: Rejection, detail: str = "") -> DeidResult:
        return DeidResult(ok=False, reason=reason, detail=detail, provenance=self.provenance)

    def deidentify(
        self,
        source: Source,
        center_id: str,
        output: BinaryIO | str | os.PathLike[str] | None = None,
        *,
        record_changes: bool = False,
        uid_scope: str = "",
    ) -> DeidResult:
        """De-identify one object from bytes, a path or a binary stream.

        ``output`` is a binary stream or a path (written atomically, only on success). With
        ``output`` None nothing is written (dry run); ``record_changes`` lists the attributes
        changed (paths of keywords, tags and actions: never values).
        """
        if isinstance(output, (str, os.PathLike)):
            return self._to_path(source, center_id, Path(output), record_changes, uid_scope)
        return self._to_stream(source, center_id, output, record_changes, uid_scope)

    def _to_stream(
        self,
        source: Source,
        center_id: str,
        output: BinaryIO | None,
        record_changes: bool,
        uid_scope: str = "",
    ) -> DeidResult:
        try:
            opened = open_source(source)
        except OSError as exc:
            return self._reject(Rejection.NOT_DICOM, f"cannot open source: {type(exc).__name__}")
        _QUIET.active = True
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    parsed = run_fast(opened)
                except NeedsFullParser:
                    parsed = read_with_pydicom(opened)
                return deidentify_object(
                    self._engine, parsed, center_id, output, record_changes, uid_scope=uid_scope
                )
        except DeidFailure as failure:
            return self._reject(failure.reason, failure.detail)
        except RecursionError:
            return self._reject(Rejection.INVALID_DATASET, "nesting too deep")
        except MemoryError:
            return self._reject(Rejection.TOO_LARGE, "object does not fit in memory")
        except Exception as exc:
            # Only the exception type: messages of parsers may quote attribute values.
            return self._reject(Rejection.INTERNAL_ERROR, type(exc).__name__)
        finally:
            _QUIET.active = False
            opened.close()

    def _to_path(
        self,
        source: Source,
        center_id: str,
        target: Path,
        record_changes: bool,
        uid_scope: str = "",
    ) -> DeidResult:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
        try:
            with partial.open("wb") as fp:
                result = self.deidentify(
                    source, center_id, fp, record_changes=record_changes, uid_scope=uid_scope
                )
            if result.ok:
                partial.replace(target)
            return result
        finally:
            partial.unlink(missing_ok=True)
