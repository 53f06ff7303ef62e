"""De-identification engine (PS3.15 Annex E Basic Profile): a pure library, no cloud imports.

Use::

    deid = Deidentifier(key=secret, options=DeidOptions(clean_descriptors=True))
    result = deid.deidentify(source, center_id="hospital-1", output=stream)
"""

from .engine import Deidentifier
from .options import DeidOptions, SafePrivateTag
from .policy import Change
from .provenance import Provenance
from .reasons import Rejection
from .result import DeidResult

__all__ = [
    "Change",
    "DeidOptions",
    "DeidResult",
    "Deidentifier",
    "Provenance",
    "Rejection",
    "SafePrivateTag",
]
