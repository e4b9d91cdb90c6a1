"""The little DER (ITU-T X.690) that RFC 3161 timestamps need: encoders for a few universal types, and a reader
of tag-length-value nodes. Only single-byte tags and definite lengths exist in DER, so anything else is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from provenance.errors import CustodyError

BOOLEAN, INTEGER, OCTET_STRING, NULL, OID, GENERALIZED_TIME = 0x01, 0x02, 0x04, 0x05, 0x06, 0x18
SEQUENCE, SET = 0x30, 0x31
CONTEXT, CONSTRUCTED = 0x80, 0x20


class DerError(CustodyError):
    """Bytes that are not the DER structure expected."""


# -- encoding ------------------------------------------------------------------------------------------------


def tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def integer(value: int) -> bytes:
    return tlv(INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def boolean(value: bool) -> bytes:
    return tlv(BOOLEAN, b"\xff" if value else b"\x00")


def octet_string(value: bytes) -> bytes:
    return tlv(OCTET_STRING, value)


def oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    content = b"".join(_base128(arc) for arc in (first * 40 + second, *rest))
    return tlv(OID, content)


def _base128(arc: int) -> bytes:
    groups = [arc & 0x7F]
    while arc > 0x7F:
        arc >>= 7
        groups.append(0x80 | (arc & 0x7F))
    return bytes(reversed(groups))


def generalized_time(moment: dt.datetime) -> bytes:
    text = moment.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%S.%f").rstrip("0").rstrip(".") + "Z"
    return tlv(GENERALIZED_TIME, text.encode("ascii"))


def sequence(*items: bytes) -> bytes:
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    return tlv(SET, b"".join(sorted(items)))  # DER orders a SET OF by its encoded elements


def context(number: int, content: bytes, *, constructed: bool = True) -> bytes:
    """A context-specific tag [number]: EXPLICIT around one encoding, or IMPLICIT replacing a type's own tag."""
    return tlv(CONTEXT | (CONSTRUCTED if constructed else 0) | number, content)


# -- reading -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    tag: int
    content: bytes
    raw: bytes  # the whole encoding: tag, length and content

    def children(self) -> list[Node]:
        if not self.tag & CONSTRUCTED:
            raise DerError(f"tag {self.tag:#04x} is primitive: it has no elements")
        nodes, offset = [], 0
        while offset < len(self.content):
            node, offset = _read_at(self.content, offset)
            nodes.append(node)
        return nodes

    def expect(self, tag: int) -> Node:
        if self.tag != tag:
            raise DerError(f"expected tag {tag:#04x}, found {self.tag:#04x}")
        return self

    def as_int(self) -> int:
        self.expect(INTEGER)
        return int.from_bytes(self.content, "big", signed=True)

    def as_oid(self) -> str:
        self.expect(OID)
        arcs, value = [], 0
        for byte in self.content:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                arcs.append(value)
                value = 0
        if not arcs:
            raise DerError("empty object identifier")
        first = min(arcs[0] // 40, 2)
        return ".".join(str(arc) for arc in (first, arcs[0] - 40 * first, *arcs[1:]))

    def as_time(self) -> dt.datetime:
        text = self.expect(GENERALIZED_TIME).content.decode("ascii", "replace")
        for layout in ("%Y%m%d%H%M%S.%fZ", "%Y%m%d%H%M%SZ"):
            try:
                return dt.datetime.strptime(text, layout).replace(tzinfo=dt.timezone.utc)
            except ValueError:
                continue
        raise DerError(f"not a DER GeneralizedTime: {text!r}")


def read(data: bytes) -> Node:
    """The one node `data` encodes (trailing bytes are an error: DER has one encoding per value)."""
    node, end = _read_at(data, 0)
    if end != len(data):
        raise DerError(f"{len(data) - end} bytes after the DER value")
    return node


def _read_at(data: bytes, offset: int) -> tuple[Node, int]:
    if offset + 2 > len(data):
        raise DerError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags do not occur in timestamps")
    start = offset + 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4:
            raise DerError("indefinite or oversized length (not DER)")
        size, start = int.from_bytes(data[start:start + count], "big"), start + count
    else:
        size = first
    end = start + size
    if end > len(data):
        raise DerError("truncated DER")
    return Node(tag, data[start:end], data[offset:end]), end
