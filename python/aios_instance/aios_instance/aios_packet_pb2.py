"""``aios_instance.aios_packet_pb2``: where AIOS's SDK kept the packet module (kept for source compatibility).

The generated code lives in ``aios_instance.proto.aios_packet_pb2``.
"""

from .proto.aios_packet_pb2 import DESCRIPTOR, AIOSPacket, FileInfo  # noqa: F401

__all__ = ["DESCRIPTOR", "AIOSPacket", "FileInfo"]
