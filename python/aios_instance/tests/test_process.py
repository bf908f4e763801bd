"""The process contract: environment, ready line, exit statuses, SIGTERM/SIGINT handling."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import Any, Dict, Iterator, List

import grpc
import pytest

from helpers import PYTHON, InstanceProcess

BLOCKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blocks")


def block_doc(**init: Any) -> Dict[str, Any]:
    return {
        "blockId": "life", "instanceId": "life-3", "componentURI": "model.life:1.0.0-stable",
        "blockInitData": dict(init), "initSettings": {"timeout_ms": 100}, "parameters": {"p": 1},
        "policies": {}, "allocation": {"clusterId": "local", "nodeId": "node-a", "gpus": ["0", "1"]},
        "simulated": True,
    }


@pytest.fixture
def start(tmp_path: Any) -> Iterator[Any]:
    procs: List[InstanceProcess] = []

    def run(**init: Any) -> InstanceProcess:
        p = InstanceProcess([PYTHON, "lifecycle_block.py"], cwd=BLOCKS, block_file=str(tmp_path / "block.json"),
                            block_data=block_doc(**init), block_id="life", instance_id="life-3",
                            extra_env={"CUDA_VISIBLE_DEVICES": "0,1"})
        procs.append(p)
        return p

    yield run
    for p in procs:
        p.close()


def test_ready_line_env_and_block_file(start: Any) -> None:
    p = start(custom="x")
    m = p.wait_ready()
    assert (m.group("block"), m.group("instance"), m.group("address")) == ("life", "life-3", f"127.0.0.1:{p.port}")
    assert p.client.health().status == "healthy"
    ctx = json.loads(p.client.manage("context").result_json)
    assert ctx == {
        "block_id": "life", "instance_id": "life-3",
        "allocation_info": {"gpus": ["0", "1"], "node_id": "node-a", "cluster_id": "local"},
        "block_init_data": {"custom": "x"}, "block_init_settings": {"timeout_ms": 100},
        "block_init_parameters": {"p": 1}, "simulated": True, "component_uri": "model.life:1.0.0-stable",
        "cuda_visible_devices": "0,1",
    }
    p.terminate(signal.SIGINT)
    assert p.wait_exit() == 0
    assert p.stdout == [m.group(0)]  # logs go to stderr, stdout has only the ready line
    assert any("constructed for life" in line for line in p.stderr)


def test_sigterm_lets_the_in_flight_call_finish_then_exits_0(start: Any) -> None:
    p = start()
    p.wait_ready()
    result: Dict[str, Any] = {}

    def call() -> None:
        try:
            result["reply"] = p.client.infer({"sleep": 1.0})
        except grpc.RpcError as e:  # pragma: no cover - reported below
            result["error"] = e

    worker = threading.Thread(target=call)
    worker.start()
    time.sleep(0.4)
    started = time.monotonic()
    p.terminate()
    time.sleep(0.1)
    with pytest.raises(grpc.RpcError) as e:  # no new calls once shutting down
        p.client.infer({"sleep": 0})
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    worker.join(10)
    assert "error" not in result, result.get("error")
    assert json.loads(result["reply"].outputs[0].data) == {"slept": 1.0}
    assert p.wait_exit() == 0
    assert time.monotonic() - started < 4.0


def test_a_call_longer_than_the_grace_period_does_not_keep_the_process_alive(start: Any) -> None:
    p = start()
    p.wait_ready()
    errors: List[Any] = []

    def call() -> None:
        try:
            p.client.infer({"sleep": 30})
        except grpc.RpcError as e:
            errors.append(e.code())

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    time.sleep(0.3)
    started = time.monotonic()
    p.terminate()
    assert p.wait_exit(timeout=12) == 0
    assert 4.5 < time.monotonic() - started < 9.0
    worker.join(5)
    assert errors and errors[0] in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)


def test_constructor_failure_exits_1_with_the_traceback(start: Any) -> None:
    p = start(fail_in_init=True)
    assert p.wait_exit() == 1
    err = "\n".join(p.stderr)
    assert "Traceback (most recent call last)" in err
    assert "RuntimeError: model weights not found at /nowhere" in err
    assert p.stdout == []


@pytest.mark.parametrize("content", ["{broken", "[1, 2]"])
def test_a_bad_block_file_exits_1(tmp_path: Any, content: str) -> None:
    p = InstanceProcess([PYTHON, "lifecycle_block.py"], cwd=BLOCKS, block_file=str(tmp_path / "block.json"),
                        block_data=content)
    try:
        assert p.wait_exit() == 1
        assert any("AIOS_BLOCK_FILE" in line for line in p.stderr), p.stderr
        assert p.stdout == []
    finally:
        p.close()
