"""examples/python-wordcount/block.py run as a real instance process, called through the generated stub."""

from __future__ import annotations

import json
import os
import signal
from typing import Any, Iterator

import grpc
import pytest

from helpers import PYTHON, InstanceProcess, outputs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE = os.path.join(REPO, "examples", "python-wordcount")


def _envelope_values(name: str) -> Any:
    with open(os.path.join(EXAMPLE, name), encoding="utf-8") as f:
        return json.load(f)["body"]["spec"]["values"]


@pytest.fixture
def wordcount(tmp_path: Any) -> Iterator[InstanceProcess]:
    block = _envelope_values("block.json")
    block_doc = {
        "blockId": block["blockId"], "instanceId": "wordcount-1-a1", "componentURI": block["blockComponentURI"],
        "blockInitData": block["blockInitData"], "initSettings": block["initSettings"],
        "parameters": block["parameters"], "policies": {},
        "allocation": {"clusterId": "local", "nodeId": "node-1", "gpus": []}, "simulated": False,
    }
    component = _envelope_values("component.json")
    p = InstanceProcess([PYTHON] + component["runtime"]["command"][1:], cwd=os.path.join(EXAMPLE, component["runtime"]["cwd"]),
                        block_file=str(tmp_path / "block.json"), block_data=block_doc,
                        block_id=block["blockId"], instance_id="wordcount-1-a1")
    try:
        m = p.wait_ready()
        assert (m.group("block"), m.group("instance")) == ("wordcount-1", "wordcount-1-a1")
        yield p
    finally:
        p.close()


def test_example_specs() -> None:
    component = _envelope_values("component.json")
    assert component["componentId"] == {"name": "wordcount", "version": "1.0.0", "releaseTag": "stable"}
    assert component["componentType"] == "model"
    assert component["runtime"] == {"type": "process", "command": ["python3", "block.py"], "cwd": "."}
    block = _envelope_values("block.json")
    assert (block["blockId"], block["blockComponentURI"]) == ("wordcount-1", "model.wordcount:1.0.0-stable")
    assert (block["minInstances"], block["maxInstances"]) == (1, 2)


def test_wordcount_end_to_end(wordcount: InstanceProcess) -> None:
    c = wordcount.client
    assert c is not None
    health = c.health()
    assert health.status == "healthy"
    assert json.loads(health.details_json) == {"status": "healthy", "total_requests": 0, "sessions": 0}

    reply = c.infer({"text": "The cat and the hat. The end!"}, session_id="alice", seq_no=1)
    assert len(reply.outputs) == 1 and reply.outputs[0].session_id == "alice" and reply.outputs[0].seq_no == 1
    assert outputs(reply) == [{
        "words": 7, "chars": 29,
        "top": [{"word": "the", "count": 3}, {"word": "cat", "count": 1}, {"word": "and", "count": 1}],
        "session_requests": 1,
    }]
    assert outputs(c.infer({"text": "again"}, session_id="alice", seq_no=2))[0]["session_requests"] == 2
    assert outputs(c.infer({"text": "hi"}, session_id="bob"))[0]["session_requests"] == 1

    # Streaming: one reply per word, then the summary.
    replies = c.infer_stream({"text": "b a b", "stream": True}, session_id="bob", seq_no=3)
    assert [outputs(r) for r in replies] == [
        [{"index": 0, "word": "b"}], [{"index": 1, "word": "a"}], [{"index": 2, "word": "b"}],
        [{"words": 3, "chars": 5, "top": [{"word": "b", "count": 2}, {"word": "a", "count": 1}],
          "session_requests": 2}],
    ]
    # A non-streaming request on InferStream is one reply.
    assert len(c.infer_stream({"text": "one reply"}, session_id="carol")) == 1

    # Bad input is refused by on_preprocess's (False, err): INVALID_ARGUMENT with its message.
    with pytest.raises(grpc.RpcError) as e:
        c.infer({"txt": "typo"})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == 'on_preprocess refused the input: packet data must be a JSON object with a string field "text"'

    # Parameters: merged, validated by on_update, and used by the next inference.
    upd = c.update({"top_k": 1, "lowercase": False})
    assert json.loads(upd.parameters_json) == {"top_k": 1, "lowercase": False}
    assert json.loads(upd.result_json) == {"top_k": 1, "lowercase": False}
    assert outputs(c.infer({"text": "A a a"}, session_id="dave"))[0]["top"] == [{"word": "a", "count": 2}]
    with pytest.raises(grpc.RpcError) as e:
        c.update({"top_k": 0})
    assert e.value.code() == grpc.StatusCode.INTERNAL and "top_k must be an integer >= 1" in e.value.details()
    assert json.loads(c.update({}).parameters_json) == {"top_k": 1, "lowercase": False}  # rolled back

    # Management.
    stats = json.loads(c.manage("stats").result_json)
    assert stats == {"total_requests": 6, "sessions": 4, "top_k": 1, "lowercase": False}
    assert json.loads(c.manage("reset", {"session_id": "alice"}).result_json) == {"reset": True, "sessions_cleared": 1}
    assert outputs(c.infer({"text": "x"}, session_id="alice"))[0]["session_requests"] == 1
    assert json.loads(c.manage("reset").result_json) == {"reset": True, "sessions_cleared": 4}
    with pytest.raises(grpc.RpcError) as e:
        c.manage("explode")
    assert e.value.code() == grpc.StatusCode.INTERNAL and "unknown management action 'explode'" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        c.manage("")
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert json.loads(c.health().details_json)["total_requests"] == 0

    wordcount.terminate(signal.SIGTERM)
    assert wordcount.wait_exit() == 0
    assert any("event reset" in line for line in wordcount.stderr)
