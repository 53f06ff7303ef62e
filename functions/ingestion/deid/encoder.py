"""The output's file meta: preamble, DICM prefix and a fresh group 0002.

Nothing of the source's meta is carried over (its sending AE title and private information
may name the center's staff or systems); the data set itself is written by
``element_tree.write_elements``.
"""

from __future__ import annotations

import struct

PREAMBLE = b"\x00" * 128 + b"DICM"


def _meta_element(tag: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in (b"UI", b"OB") else b" "
    if vr == b"OB":
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def encode_meta_values(
    sop_class: str,
    sop_instance: str,
    transfer_syntax: str,
    implementation_uid: str,
    implementation_version: str,
) -> bytes:
    """Preamble, prefix and the file meta group (always explicit VR little endian)."""
    body = b"".join(
        (
            _meta_element(0x00020001, b"OB", b"\x00\x01"),
            _meta_element(0x00020002, b"UI", sop_class.encode()),
            _meta_element(0x00020003, b"UI", sop_instance.encode()),
            _meta_element(0x00020010, b"UI", transfer_syntax.encode()),
            _meta_element(0x00020012, b"UI", implementation_uid.encode()),
            _meta_element(0x00020013, b"SH", implementation_version.encode()),
        )
    )
    group_length = struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(body))
    return PREAMBLE + group_length + body
