"""The gRPC instance protocol, served in-process by ``Block.start()`` and called through the generated stub."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, List

import grpc
import pytest

from aios_instance import Batcher, FileInfo, Muxer, OnDataResult, PreProcessResult
from aios_instance.proto import aios_instance_pb2 as pb
from helpers import CALL_TIMEOUT, infer_request, outputs


def code_and_details(excinfo: pytest.ExceptionInfo) -> tuple:
    err = excinfo.value
    return err.code(), err.details()


# ---------------------------------------------------------------------------------------------- Infer


class Echo:
    """The AIOS example shape: on_data without is_ws, PreProcessResult without session_id."""

    def __init__(self, context: Any) -> None:
        self.context = context

    def on_preprocess(self, packet: Any) -> Any:
        data = json.loads(packet.data)
        return True, [PreProcessResult(packet=packet, extra_data=data)]

    def on_data(self, entry: Any) -> Any:
        return True, OnDataResult(output={"echo": entry.extra_data, "session": entry.session_id})


def test_infer_copies_the_packet_and_sets_data(serve: Any) -> None:
    s = serve(Echo)
    f = FileInfo(metadata='{"name": "x.bin"}', file_data=b"\x00\x01")
    reply = s.client.infer({"a": 1}, session_id="sess", seq_no=42, files=[f], output_ptr='{"graph": {}}')
    assert len(reply.outputs) == 1
    out = reply.outputs[0]
    assert json.loads(out.data) == {"echo": {"a": 1}, "session": "sess"}
    assert (out.session_id, out.seq_no, out.ts, out.output_ptr) == ("sess", 42, 1700000000.5, '{"graph": {}}')
    assert [(x.metadata, x.file_data) for x in out.files] == [('{"name": "x.bin"}', b"\x00\x01")]


class ReturnShapes:
    """Every return shape on_preprocess/on_data may use."""

    def __init__(self, context: Any) -> None:
        pass

    def on_preprocess(self, packet: Any) -> Any:
        mode = json.loads(packet.data)["pre"]
        if mode == "single":
            return True, PreProcessResult(packet, {"k": 0})
        if mode == "none":
            return True, None
        if mode == "empty":
            return True, []
        if mode == "three":
            return True, [PreProcessResult(packet, {"k": i}) for i in range(3)]
        if mode == "bare_list":
            return [PreProcessResult(packet, {"k": 0}), PreProcessResult(packet, {"k": 1})]
        raise AssertionError(mode)

    def on_data(self, entry: Any, is_ws: bool = True) -> Any:
        k = entry.extra_data["k"]
        # is_ws is passed (False) because this signature accepts it.
        assert is_ws is False
        if k == 1:
            return OnDataResult(output={"k": k, "shape": "bare OnDataResult"})
        if k == 2:
            return {"k": k, "shape": "bare dict"}
        return True, OnDataResult(output={"k": k})


@pytest.mark.parametrize("mode,expected", [
    ("single", [{"k": 0}]),
    ("none", []),
    ("empty", []),
    ("three", [{"k": 0}, {"k": 1, "shape": "bare OnDataResult"}, {"k": 2, "shape": "bare dict"}]),
    ("bare_list", [{"k": 0}, {"k": 1, "shape": "bare OnDataResult"}]),
])
def test_return_shapes(serve: Any, mode: str, expected: List[Any]) -> None:
    s = serve(ReturnShapes)
    assert outputs(s.client.infer({"pre": mode})) == expected


class Batching:
    """The documented Batcher pattern: (True, None) while the batch fills."""

    def __init__(self, context: Any) -> None:
        self.batcher = Batcher(3)

    def on_preprocess(self, packet: Any) -> Any:
        return True, PreProcessResult(packet, json.loads(packet.data)["v"])

    def on_data(self, entry: Any, **kwargs: Any) -> Any:
        assert kwargs == {"is_ws": False}
        batch = self.batcher.add_to_batch(entry.extra_data)
        if batch is None:
            return True, None
        return True, OnDataResult(output={"batch": batch})


def test_on_data_none_means_no_output(serve: Any) -> None:
    s = serve(Batching)
    assert outputs(s.client.infer({"v": 1})) == []
    assert outputs(s.client.infer({"v": 2})) == []
    assert outputs(s.client.infer({"v": 3}, seq_no=3)) == [{"batch": [1, 2, 3]}]


class Minimal:
    """No on_preprocess: the packet is passed through as the single entry."""

    def __init__(self, context: Any) -> None:
        pass

    def on_data(self, entry: Any) -> Any:
        return True, OnDataResult(output={"got": json.loads(entry.packet.data)})


def test_without_on_preprocess_the_packet_is_the_entry(serve: Any) -> None:
    assert outputs(serve(Minimal).client.infer({"q": 1})) == [{"got": {"q": 1}}]


# ---------------------------------------------------------------------------------------------- errors


def _helper_that_fails(text: str) -> None:
    raise ValueError(f"cannot handle {text}")


class Failing:
    def __init__(self, context: Any) -> None:
        pass

    def on_preprocess(self, packet: Any) -> Any:
        mode = json.loads(packet.data)["mode"]
        if mode == "pre_raises":
            _helper_that_fails("pre")
        if mode == "pre_false":
            return False, "bad input: no text"
        if mode == "pre_invalid":
            return True, ["not a result"]
        return True, [PreProcessResult(packet, mode)]

    def on_data(self, entry: Any) -> Any:
        mode = entry.extra_data
        if mode == "data_raises":
            return {"x": 1} / 2
        if mode == "data_false":
            return False, RuntimeError("model exploded")
        if mode == "data_unserialisable":
            return True, OnDataResult(output={"x": object()})
        return True, OnDataResult(output={"ok": True})

    def management(self, action: str, data: Any) -> Any:
        if action == "boom":
            raise KeyError("nope")
        if action == "fail":
            return False, {"reason": "not now"}
        return {"action": action, "data": data}


@pytest.mark.parametrize("mode,code,message", [
    ("pre_raises", grpc.StatusCode.INTERNAL, "on_preprocess raised ValueError: cannot handle pre [at "),
    ("pre_false", grpc.StatusCode.INVALID_ARGUMENT, "on_preprocess refused the input: bad input: no text"),
    ("pre_invalid", grpc.StatusCode.INTERNAL, "on_preprocess returned an entry of type str"),
    ("data_raises", grpc.StatusCode.INTERNAL, "on_data raised TypeError: unsupported operand"),
    ("data_false", grpc.StatusCode.INTERNAL, "on_data failed: RuntimeError: model exploded"),
    ("data_unserialisable", grpc.StatusCode.INTERNAL, "on_data output is not JSON-serialisable"),
])
def test_user_errors_become_statuses(serve: Any, mode: str, code: grpc.StatusCode, message: str) -> None:
    s = serve(Failing)
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer({"mode": mode})
    got_code, details = code_and_details(e)
    assert got_code == code
    assert message in details
    with pytest.raises(grpc.RpcError) as e2:
        s.client.infer_stream({"mode": mode})
    assert code_and_details(e2) == (got_code, details)


def test_traceback_summary_names_the_user_frames(serve: Any) -> None:
    s = serve(Failing)
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer({"mode": "pre_raises"})
    details = e.value.details()
    assert "test_server.py:" in details and "in on_preprocess" in details and "in _helper_that_fails" in details
    assert "server.py" not in details.replace("test_server.py", "")  # no SDK frames


def test_manage(serve: Any) -> None:
    s = serve(Failing)
    assert json.loads(s.client.manage("ping", {"n": 1}).result_json) == {"action": "ping", "data": {"n": 1}}
    assert json.loads(s.client.manage("ping").result_json) == {"action": "ping", "data": {}}
    cases = [
        (("", {"n": 1}), grpc.StatusCode.INVALID_ARGUMENT, "Manage.action is empty"),
        (("ping", None, "{not json"), grpc.StatusCode.INVALID_ARGUMENT, "data_json is not valid JSON"),
        (("boom",), grpc.StatusCode.INTERNAL, "management raised KeyError: 'nope'"),
        (("fail",), grpc.StatusCode.INTERNAL, 'management failed: {"reason": "not now"}'),
    ]
    for args, code, message in cases:
        with pytest.raises(grpc.RpcError) as e:
            s.client.manage(*args)
        assert e.value.code() == code and message in e.value.details(), e.value.details()


def test_missing_management_is_unimplemented(serve: Any) -> None:
    s = serve(Echo)
    with pytest.raises(grpc.RpcError) as e:
        s.client.manage("reset")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED and "Echo has no management" in e.value.details()


class NoOnData:
    def __init__(self, context: Any) -> None:
        pass


def test_missing_on_data_is_unimplemented(serve: Any) -> None:
    with pytest.raises(grpc.RpcError) as e:
        serve(NoOnData).client.infer({})
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


# ---------------------------------------------------------------------------------------------- parameters


class Params:
    def __init__(self, context: Any) -> None:
        self.context = context
        self.updates: List[Any] = []

    def on_data(self, entry: Any) -> Any:
        return True, OnDataResult(output=dict(self.context.block_init_parameters))

    def on_update(self, params: Any) -> Any:
        if "bad" in params:
            return False, "bad is not a parameter"
        if "explode" in params:
            raise RuntimeError("update exploded")
        self.updates.append(params)
        return True, {"applied": sorted(params)}


def test_update_parameters_merges_in_place_and_calls_on_update(serve: Any) -> None:
    block_data = {"parameters": {"temperature": 0.7, "top_k": 3}}
    s = serve(Params, block_data)
    params = s.block.context.block_init_parameters
    assert params is block_data["parameters"]
    reply = s.client.update({"temperature": 0.2, "new": "x"})
    assert json.loads(reply.parameters_json) == {"temperature": 0.2, "top_k": 3, "new": "x"}
    assert json.loads(reply.result_json) == {"applied": ["new", "temperature"]}
    assert s.instance.updates == [{"temperature": 0.2, "new": "x"}]
    assert params is block_data["parameters"] and params["temperature"] == 0.2
    assert outputs(s.client.infer({})) == [{"temperature": 0.2, "top_k": 3, "new": "x"}]


def test_update_parameters_errors_roll_back(serve: Any) -> None:
    s = serve(Params, {"parameters": {"a": 1}})
    for payload, code, message in [
        ({"a": 2, "bad": 1}, grpc.StatusCode.INTERNAL, "on_update failed: bad is not a parameter"),
        ({"a": 3, "explode": 1}, grpc.StatusCode.INTERNAL, "on_update raised RuntimeError: update exploded"),
    ]:
        with pytest.raises(grpc.RpcError) as e:
            s.client.update(payload)
        assert e.value.code() == code and message in e.value.details()
        assert s.block.context.block_init_parameters == {"a": 1}
    for raw, message in [("{oops", "parameters_json is not valid JSON"),
                         ("[1, 2]", "parameters_json must be a JSON object, got list")]:
        with pytest.raises(grpc.RpcError) as e:
            s.client.update(raw=raw)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in e.value.details()


def test_update_parameters_without_on_update_still_merges(serve: Any) -> None:
    s = serve(Echo, {"parameters": {"a": 1}})
    reply = s.client.update({"b": 2})
    assert json.loads(reply.parameters_json) == {"a": 1, "b": 2}
    assert json.loads(reply.result_json) is None


# ---------------------------------------------------------------------------------------------- health


class Healths:
    mode = "ok"

    def __init__(self, context: Any) -> None:
        pass

    def on_data(self, entry: Any) -> Any:
        return True, OnDataResult(output={})

    def health(self) -> Any:
        mode = type(self).mode
        if mode == "raise":
            raise RuntimeError("gpu lost")
        return {
            "ok": {"status": "healthy", "load": 0.5},
            "degraded": {"status": "degraded"},
            "truthy": {"anything": 1},
            "true": True,
            "none": None,
            "tuple_false": (False, "warming up"),
        }[mode]


@pytest.mark.parametrize("mode,status,details", [
    ("ok", "healthy", {"status": "healthy", "load": 0.5}),
    ("degraded", "degraded", {"status": "degraded"}),
    ("truthy", "healthy", {"anything": 1}),
    ("true", "healthy", True),
    ("none", "unhealthy", None),
    ("tuple_false", "unhealthy", {"error": "health failed: warming up"}),
])
def test_health_results(serve: Any, mode: str, status: str, details: Any) -> None:
    cls = type("H", (Healths,), {"mode": mode})
    reply = serve(cls).client.health()
    assert reply.status == status
    assert json.loads(reply.details_json) == details


def test_health_that_raises_is_unhealthy_not_an_error(serve: Any) -> None:
    cls = type("H", (Healths,), {"mode": "raise"})
    reply = serve(cls).client.health()
    assert reply.status == "unhealthy"
    assert json.loads(reply.details_json)["error"].startswith("health raised RuntimeError: gpu lost")


def test_default_health(serve: Any) -> None:
    reply = serve(Echo).client.health()
    assert (reply.status, json.loads(reply.details_json)) == ("healthy", {"status": "healthy"})


# ---------------------------------------------------------------------------------------------- streaming


class Streaming:
    def __init__(self, context: Any) -> None:
        self.closed = 0

    def on_preprocess(self, packet: Any) -> Any:
        d = json.loads(packet.data)
        return True, [PreProcessResult(packet, d)]

    def on_data(self, entry: Any) -> Any:
        d = entry.extra_data
        if d.get("plain"):
            return True, OnDataResult(output={"plain": True})
        if d.get("bare_generator"):
            return self._tokens(d["n"], d.get("fail_at"))
        return True, OnDataResult(output=self._tokens(d["n"], d.get("fail_at")))

    def _tokens(self, n: int, fail_at: Any = None) -> Any:
        try:
            for i in range(n):
                if i == fail_at:
                    raise ValueError(f"token {i} failed")
                yield {"token": i}
            yield OnDataResult(output={"done": True})
        finally:
            self.closed += 1


def test_infer_stream_sends_one_reply_per_chunk(serve: Any) -> None:
    s = serve(Streaming)
    for payload in ({"n": 3}, {"n": 3, "bare_generator": True}):
        replies = s.client.infer_stream(payload, seq_no=5)
        assert [outputs(r) for r in replies] == [[{"token": 0}], [{"token": 1}], [{"token": 2}], [{"done": True}]]
        assert all(r.outputs[0].seq_no == 5 and r.outputs[0].session_id == "s1" for r in replies)
    assert s.instance.closed == 2


def test_infer_collects_a_stream(serve: Any) -> None:
    s = serve(Streaming)
    assert outputs(s.client.infer({"n": 2})) == [{"token": 0}, {"token": 1}, {"done": True}]


def test_infer_stream_of_a_plain_result_is_one_reply(serve: Any) -> None:
    s = serve(Streaming)
    replies = s.client.infer_stream({"plain": True})
    assert [outputs(r) for r in replies] == [[{"plain": True}]]


def test_stream_error_after_chunks(serve: Any) -> None:
    s = serve(Streaming)
    got: List[Any] = []
    with pytest.raises(grpc.RpcError) as e:
        for reply in s.client.stub.InferStream(infer_request({"n": 5, "fail_at": 2}), timeout=CALL_TIMEOUT):
            got.extend(outputs(reply))
    assert got == [{"token": 0}, {"token": 1}]
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert e.value.details().startswith("on_data raised ValueError: token 2 failed [at test_server.py:")


# ---------------------------------------------------------------------------------------------- muxer


class Muxing:
    muxer_calls = 0

    def __init__(self, context: Any) -> None:
        self.muxer = Muxer(2)

    def get_muxer(self) -> Any:
        type(self).muxer_calls += 1
        return self.muxer

    def on_preprocess(self, packet: Any) -> Any:
        return True, PreProcessResult(packet, json.loads(packet.data))

    def on_data(self, entry: Any) -> Any:
        return True, OnDataResult(output={"sum": sum(x["v"] for x in entry.extra_data["inputs"]),
                                          "files": len(entry.packet.files)})


def test_muxer_in_the_pipeline(serve: Any) -> None:
    s = serve(Muxing)
    f = FileInfo(metadata="{}", file_data=b"z")
    assert outputs(s.client.infer({"v": 1}, seq_no=9, files=[f])) == []  # waiting for its partner
    assert outputs(s.client.infer({"v": 10}, seq_no=8)) == []
    assert outputs(s.client.infer({"v": 2}, seq_no=9, files=[f])) == [{"sum": 3, "files": 2}]
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer(raw="not json", seq_no=9)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and e.value.details().startswith("muxer: ")
    assert Muxing.muxer_calls == 1  # get_muxer is called once, at start


# ---------------------------------------------------------------------------------------------- concurrency


class Slow:
    def __init__(self, context: Any) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0

    def on_data(self, entry: Any) -> Any:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        time.sleep(json.loads(entry.packet.data)["sleep"])
        with self.lock:
            self.running -= 1
        return True, OnDataResult(output={"slept": True})


def _parallel_infers(s: Any, n: int, sleep: float) -> List[Any]:
    results: List[Any] = [None] * n

    def call(i: int) -> None:
        results[i] = outputs(s.client.infer({"sleep": sleep}, seq_no=i))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CALL_TIMEOUT)
    return results


def test_inference_is_serialised_by_default(serve: Any) -> None:
    s = serve(Slow)
    assert _parallel_infers(s, 4, 0.1) == [[{"slept": True}]] * 4
    assert s.instance.max_running == 1


def test_thread_pool_runs_inference_concurrently(serve: Any) -> None:
    s = serve(Slow, {"blockInitData": {"enable_thread_pool": True, "max_threads": 3}})
    assert _parallel_infers(s, 6, 0.3) == [[{"slept": True}]] * 6
    assert s.instance.max_running == 3


def test_health_does_not_wait_behind_inference(serve: Any) -> None:
    s = serve(Slow)
    worker = threading.Thread(target=lambda: s.client.infer({"sleep": 1.5}))
    worker.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert s.client.health(timeout=1.0).status == "healthy"
    assert time.monotonic() - started < 0.5
    worker.join(CALL_TIMEOUT)


def test_a_call_waiting_for_the_lock_respects_its_deadline(serve: Any) -> None:
    s = serve(Slow)
    worker = threading.Thread(target=lambda: s.client.infer({"sleep": 1.0}))
    worker.start()
    time.sleep(0.1)
    with pytest.raises(grpc.RpcError) as e:
        s.client.stub.Infer(infer_request({"sleep": 0}), timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    worker.join(CALL_TIMEOUT)
    time.sleep(0.3)
    assert s.instance.max_running == 1


def test_listen_port_zero_and_stop_rejects_calls() -> None:
    from aios_instance import Block
    from helpers import Client

    block = Block(Echo, block_data={}, block_id="b", instance_id="b-0", listen="127.0.0.1:0")
    address = block.start()
    assert address.startswith("127.0.0.1:") and not address.endswith(":0")
    client = Client(address)
    assert client.health().status == "healthy"
    assert block.stop(1.0) is True
    with pytest.raises(grpc.RpcError) as e:
        client.health(timeout=2.0)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    client.close()


def test_inference_beyond_the_worker_budget_is_rejected_and_health_still_answers(serve: Any) -> None:
    # grpc_max_workers 8 keeps 4 workers for Health/Manage/UpdateParameters: at most 4 inference calls.
    s = serve(Slow, {"blockInitData": {"grpc_max_workers": 8}})
    codes: List[Any] = []
    lock = threading.Lock()

    def call(i: int) -> None:
        try:
            s.client.infer({"sleep": 0.5}, seq_no=i)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(7)]
    for t in threads:
        t.start()
    time.sleep(0.15)
    assert s.client.health(timeout=1.0).status == "healthy"
    for t in threads:
        t.join(CALL_TIMEOUT)
    assert codes.count(grpc.StatusCode.OK) == 4
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 3
