"""aios_instance: the Python instance SDK for aios-swift blocks.

Source-compatible with AIOS (AIGr.id) block code::

    from aios_instance import Block, PreProcessResult, OnDataResult

    class MyBlock:
        def __init__(self, context): ...
        def on_preprocess(self, packet): return True, [PreProcessResult(packet)]
        def on_data(self, entry): return True, OnDataResult(output={"ok": True})

    if __name__ == "__main__":
        Block(MyBlock).run()
"""

from .context import BlockEvents, Context, SessionsManager
from .errors import BlockError, InvalidArgument, RpcAbort, Unavailable
from .proto.aios_packet_pb2 import AIOSPacket, FileInfo
from .results import OnDataResult, PreProcessResult
from .server import Block, ConfigError
from .tools import Batcher, Muxer, MuxerInputError, TimeBasedBatcher

__version__ = "0.1.0"

__all__ = [
    "AIOSPacket",
    "Batcher",
    "Block",
    "BlockError",
    "BlockEvents",
    "ConfigError",
    "Context",
    "FileInfo",
    "InvalidArgument",
    "Muxer",
    "MuxerInputError",
    "OnDataResult",
    "PreProcessResult",
    "RpcAbort",
    "SessionsManager",
    "TimeBasedBatcher",
    "Unavailable",
    "__version__",
]
