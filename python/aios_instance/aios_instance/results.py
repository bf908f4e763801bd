"""The data classes user blocks return from ``on_preprocess`` and ``on_data`` (AIOS-compatible)."""

from __future__ import annotations

from typing import Any, Optional

__all__ = ["PreProcessResult", "OnDataResult"]


class PreProcessResult:
    """One unit of work produced by ``on_preprocess``; ``on_data`` is called once per result.

    ``packet`` is the ``AIOSPacket`` the output will be written into (usually the input packet),
    ``extra_data`` is anything the block wants to hand to ``on_data``. ``session_id`` defaults to the
    packet's (AIOS made it a required argument although its docs and examples never passed it).
    """

    __slots__ = ("packet", "extra_data", "session_id")

    def __init__(self, packet: Any, extra_data: Any = None, session_id: Optional[str] = None) -> None:
        self.packet = packet
        self.extra_data = extra_data
        self.session_id = session_id if session_id is not None else getattr(packet, "session_id", None)

    def __repr__(self) -> str:
        return (
            f"PreProcessResult(session_id={self.session_id!r}, "
            f"seq_no={getattr(self.packet, 'seq_no', None)!r}, extra_data={self.extra_data!r})"
        )


class OnDataResult:
    """The output of ``on_data`` for one entry.

    ``output`` is a JSON-serialisable value (usually a dict); it becomes the output packet's ``data``.
    It may also be a generator/iterator of such values: each yielded value is one streamed output.
    """

    __slots__ = ("output",)

    def __init__(self, output: Any) -> None:
        self.output = output

    def __repr__(self) -> str:
        return f"OnDataResult(output={self.output!r})"
