"""``BlockError`` / ``Unavailable`` / ``InvalidArgument``: user code choosing the gRPC status of a failed call."""

from __future__ import annotations

import json
from typing import Any, Iterator, List

import grpc
import pytest

import aios_instance
from aios_instance import BlockError, InvalidArgument, OnDataResult, PreProcessResult, Unavailable
from helpers import CALL_TIMEOUT, infer_request, outputs


class Raising:
    """Raises the error the packet asks for, from the place the packet names."""

    def __init__(self, context: Any) -> None:
        self.context = context
        self.closed = 0

    def on_preprocess(self, packet: Any) -> Any:
        d = json.loads(packet.data)
        if d.get("where") == "pre":
            raise self._error(d)
        return True, [PreProcessResult(packet, d)]

    def on_data(self, entry: Any) -> Any:
        d = entry.extra_data
        if d.get("where") == "data":
            raise self._error(d)
        if d.get("where") == "stream":
            return True, OnDataResult(output=self._stream(d))
        return True, OnDataResult(output={"ok": True})

    def _stream(self, d: Any) -> Iterator[Any]:
        try:
            for i in range(d["n"]):
                if i == d["fail_at"]:
                    raise self._error(d)
                yield {"token": i}
        finally:
            self.closed += 1

    def management(self, action: str, data: Any) -> Any:
        if action == "bad":
            raise InvalidArgument("management: field 'session_id' must be a string")
        return {"action": action}

    def on_update(self, params: Any) -> Any:
        if "temperature" in params and not isinstance(params["temperature"], (int, float)):
            raise InvalidArgument(f"temperature must be a number, got {params['temperature']!r}")
        return True, dict(params)

    @staticmethod
    def _error(d: Any) -> BlockError:
        kind, message = d["kind"], d.get("message", "boom")
        if kind == "unavailable":
            return Unavailable(message)
        if kind == "invalid":
            return InvalidArgument(message)
        return BlockError(getattr(grpc.StatusCode, kind), message)


def test_exports() -> None:
    for name in ("BlockError", "Unavailable", "InvalidArgument"):
        assert name in aios_instance.__all__
    assert issubclass(Unavailable, BlockError) and issubclass(InvalidArgument, BlockError)
    assert issubclass(BlockError, Exception)


def test_constructor() -> None:
    e = Unavailable("server down")
    assert (e.code, e.message, str(e)) == (grpc.StatusCode.UNAVAILABLE, "server down", "server down")
    e2 = InvalidArgument("bad field")
    assert (e2.code, e2.message) == (grpc.StatusCode.INVALID_ARGUMENT, "bad field")
    e3 = BlockError(grpc.StatusCode.FAILED_PRECONDITION, "not loaded")
    assert e3.code == grpc.StatusCode.FAILED_PRECONDITION and repr(e3) == "BlockError(FAILED_PRECONDITION, 'not loaded')"
    with pytest.raises(ValueError):
        BlockError(grpc.StatusCode.OK, "fine")
    with pytest.raises(TypeError):
        BlockError(14, "not a status code")  # type: ignore[arg-type]


@pytest.mark.parametrize("where", ["pre", "data"])
@pytest.mark.parametrize("kind, code", [
    ("unavailable", grpc.StatusCode.UNAVAILABLE),
    ("invalid", grpc.StatusCode.INVALID_ARGUMENT),
    ("FAILED_PRECONDITION", grpc.StatusCode.FAILED_PRECONDITION),
    ("NOT_FOUND", grpc.StatusCode.NOT_FOUND),
])
def test_infer_maps_the_code_and_keeps_the_message(serve: Any, where: str, kind: str, code: grpc.StatusCode) -> None:
    s = serve(Raising)
    message = f"{kind} from {where}: ünïcode ok"
    for call in (s.client.infer, s.client.infer_stream):
        with pytest.raises(grpc.RpcError) as e:
            call({"where": where, "kind": kind, "message": message})
        assert e.value.code() == code
        assert e.value.details() == message  # exactly the message: no "raised" prefix, no traceback summary
    assert outputs(s.client.infer({})) == [{"ok": True}]  # the instance keeps serving


def test_error_inside_a_streaming_generator(serve: Any) -> None:
    s = serve(Raising)
    got: List[Any] = []
    with pytest.raises(grpc.RpcError) as e:
        request = infer_request({"where": "stream", "kind": "unavailable", "n": 5, "fail_at": 2,
                                 "message": "backend went away"})
        for reply in s.client.stub.InferStream(request, timeout=CALL_TIMEOUT):
            got.extend(outputs(reply))
    assert got == [{"token": 0}, {"token": 1}]
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and e.value.details() == "backend went away"
    assert s.instance.closed == 1

    with pytest.raises(grpc.RpcError) as e:  # Infer collects the stream: the same status, no partial outputs
        s.client.infer({"where": "stream", "kind": "invalid", "n": 3, "fail_at": 0, "message": "bad token"})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and e.value.details() == "bad token"


def test_long_messages_are_truncated(serve: Any) -> None:
    s = serve(Raising)
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer({"where": "data", "kind": "unavailable", "message": "x" * 5000})
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(e.value.details()) == 2000 and e.value.details().endswith("...")


def test_management_and_on_update(serve: Any) -> None:
    s = serve(Raising, {"parameters": {"temperature": 0.5}})
    with pytest.raises(grpc.RpcError) as e:
        s.client.manage("bad", {})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "management: field 'session_id' must be a string"
    assert json.loads(s.client.manage("ok").result_json) == {"action": "ok"}

    with pytest.raises(grpc.RpcError) as e:
        s.client.update({"temperature": "hot", "other": 1})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == "temperature must be a number, got 'hot'"
    assert s.block.context.block_init_parameters == {"temperature": 0.5}  # rolled back
    assert json.loads(s.client.update({"temperature": 0.1}).parameters_json) == {"temperature": 0.1}


def test_other_exceptions_are_still_internal(serve: Any) -> None:
    class Plain:
        def __init__(self, context: Any) -> None:
            pass

        def on_data(self, entry: Any) -> Any:
            raise ConnectionError("not a BlockError")

    s = serve(Plain)
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer({})
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert e.value.details().startswith("on_data raised ConnectionError: not a BlockError")
