"""vllm-chat without a model: input validation, configuration, error mapping and session bounds, against a
scriptable fake OpenAI-compatible server (or a closed port)."""

from __future__ import annotations

import json
import time
from typing import Any, Dict

import grpc
import pytest

from aios_instance import Context
from vllm_chat_helpers import VLLMChatBlock, block_doc, llama_server
from helpers import outputs


def code_details(excinfo: pytest.ExceptionInfo) -> tuple:
    return excinfo.value.code(), excinfo.value.details()


def test_construction_needs_a_url_and_valid_settings() -> None:
    with pytest.raises(ValueError) as e:
        VLLMChatBlock(Context(block_doc({"model_name": "m"})))
    assert "blockInitData.vllm_server_url" in str(e.value) and "blockInitData.initContainer.server_url" in str(e.value)
    for init, params, settings, message in [
        ({"vllm_server_url": "ftp://x"}, None, None, "server URL must be http(s)"),
        ({"vllm_server_url": "http://h:1"}, {"temperature": "hot"}, None, "temperature must be a number"),
        ({"vllm_server_url": "http://h:1"}, {"temperature": 3}, None, "temperature must be between 0 and 2"),
        ({"vllm_server_url": "http://h:1"}, {"max_new_tokens": 0}, None, "max_new_tokens must be >= 1"),
        ({"vllm_server_url": "http://h:1", "max_history_messages": 0}, None, None,
         "blockInitData.max_history_messages must be >= 1"),
        ({"vllm_server_url": "http://h:1"}, None, {"request_timeout_s": -1}, "initSettings.request_timeout_s"),
    ]:
        with pytest.raises(Exception) as e:
            VLLMChatBlock(Context(block_doc(init, params, settings)))
        assert message in str(e.value)


def test_configuration_sources() -> None:
    # initContainer fills in what blockInitData lacks; AIOS's initSettings.max_new_tokens and timeout_ms are read.
    b = VLLMChatBlock(Context(block_doc(
        {"initContainer": {"server_url": "http://127.0.0.1:9/v1/", "model_name": "from-init", "api_key": "k"}},
        {"temperature": 0.2}, {"max_new_tokens": 77, "timeout_ms": 2500})))
    assert (b.server_url, b.model_name(), b.client.api_key) == ("http://127.0.0.1:9", "from-init", "k")
    assert (b.temperature, b.max_new_tokens, b.client.timeout_s) == (0.2, 77, 2.5)
    # blockInitData wins over initContainer; parameters win over initSettings.
    b = VLLMChatBlock(Context(block_doc(
        {"vllm_server_url": "http://a:1", "model_name": "m", "initContainer": {"server_url": "http://b:2"}},
        {"max_new_tokens": 5}, {"max_new_tokens": 77})))
    assert (b.server_url, b.max_new_tokens, b.temperature, b.client.timeout_s) == ("http://a:1", 5, 0.7, 60.0)


BAD_INPUTS = [
    (None, "not json", "packet data is not JSON"),
    ([1, 2], None, "packet data must be a JSON object"),
    ({}, None, "missing field message (AIOS form) or messages (OpenAI form)"),
    ({"message": 3}, None, "message must be a string, got int"),
    ({"message": "  "}, None, "message is empty"),
    ({"message": "hi", "session_id": 7}, None, "session_id must be a string"),
    ({"message": "hi", "stream": "yes"}, None, "stream must be a boolean"),
    ({"message": "hi", "messages": []}, None, "not both"),
    ({"messages": []}, None, "messages must be a non-empty list"),
    ({"messages": [{"role": "wizard", "content": "x"}]}, None, "messages[0].role must be one of"),
    ({"messages": [{"role": "user", "content": 5}]}, None, "messages[0].content must be a string or a list"),
    ({"messages": [{"role": "user", "content": "x"}], "temperature": 9}, None, "temperature must be between 0 and 2"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}, None, "max_tokens must be an integer"),
    ({"messages": [{"role": "user", "content": "x"}], "n": 2}, None, "n must be 1"),
    ({"inputs": "x"}, None, "inputs must be a list"),
    ({"inputs": [{"message": "ok"}, {"mesage": "typo"}]}, None, "missing field inputs[1].message"),
]


@pytest.mark.parametrize("data, raw, message", BAD_INPUTS)
def test_bad_input_is_invalid_argument(serve_block: Any, fake: Any, data: Any, raw: Any, message: str) -> None:
    s = serve_block({"vllm_server_url": fake.url, "model_name": "m"})
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer(data, raw=raw)
    code, details = code_details(e)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and message in details, details
    assert fake.calls == 0


def test_requests_sent_and_outputs(serve_block: Any, fake: Any) -> None:
    s = serve_block({"vllm_server_url": fake.url + "/", "api_key": "sekret", "system_prompt": "Be brief."},
                    {"temperature": 0.3, "max_new_tokens": 9})
    out = outputs(s.client.infer({"message": "hi"}, session_id="pkt-session"))
    assert out == [{"reply": "reply 1", "session_id": "pkt-session", "finish_reason": "stop",
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}]
    models, chat = fake.requests[0], fake.requests[1]
    assert models["path"] == "/v1/models"  # model_name not configured: the first listed model is used
    assert chat["path"] == "/v1/chat/completions" and chat["headers"]["Authorization"] == "Bearer sekret"
    assert chat["body"] == {"model": "fake-model", "temperature": 0.3, "max_tokens": 9, "messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]}

    # OpenAI form: forwarded as given, request values win, other fields pass through, the model is the block's.
    body = {"model": "client-model", "messages": [{"role": "user", "content": "x"}], "max_tokens": 3,
            "temperature": 0, "top_p": 0.5, "stop": ["\n"], "user": "u1"}
    assert outputs(s.client.infer(body)) == [{"reply": "reply 2", "finish_reason": "stop",
                                              "usage": {"prompt_tokens": 3, "completion_tokens": 2,
                                                        "total_tokens": 5}}]
    assert fake.requests[-1]["body"] == {"model": "fake-model", "messages": body["messages"], "max_tokens": 3,
                                         "temperature": 0, "top_p": 0.5, "stop": ["\n"], "user": "u1"}
    assert len(fake.requests) == 3  # the model list was asked once
    assert json.loads(s.client.manage("sessions").result_json)["session_ids"] == ["pkt-session"]

    # Muxed: one output per item, each with its own session.
    out = outputs(s.client.infer({"inputs": [{"message": "a", "session_id": "m1"},
                                             {"messages": [{"role": "user", "content": "b"}]}]}))
    assert [o["reply"] for o in out] == ["reply 3", "reply 4"] and out[0]["session_id"] == "m1"
    assert "session_id" not in out[1]


def test_streaming_parses_sse(serve_block: Any, fake: Any) -> None:
    s = serve_block({"vllm_server_url": fake.url, "model_name": "m"})
    replies = s.client.infer_stream({"message": "hi", "stream": True, "session_id": "st"})
    assert [outputs(r) for r in replies] == [[{"token": "Hel"}], [{"token": "lo"}]]
    assert fake.requests[-1]["body"]["stream"] is True
    history = json.loads(s.client.manage("history", {"session_id": "st"}).result_json)["messages"]
    assert history[-2:] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]

    fake.mode = "truncated"  # no [DONE] and no finish_reason: the stream was cut
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer_stream({"message": "again", "stream": True, "session_id": "st"})
    assert code_details(e) == (grpc.StatusCode.UNAVAILABLE,
                               f"openai-compatible server at {fake.url} ended the stream before [DONE]")
    assert len(json.loads(s.client.manage("history", {"session_id": "st"}).result_json)["messages"]) == 3


@pytest.mark.parametrize("mode, code, messages", [
    ("500", grpc.StatusCode.UNAVAILABLE, "answered 503: engine crashed badly"),
    ("401", grpc.StatusCode.INVALID_ARGUMENT, "rejected the request (401): invalid api key"),
    ("garbage", grpc.StatusCode.UNAVAILABLE, ("sent a body that is not JSON: <html>not json</html>",
     "sent a response that is not an event stream (Content-Type text/html): <html>not json</html>")),
    ("slow", grpc.StatusCode.UNAVAILABLE, "is unreachable: timed out after 0.5 s"),
])
def test_remote_failures(serve_block: Any, fake: Any, mode: str, code: grpc.StatusCode, messages: Any) -> None:
    s = serve_block({"vllm_server_url": fake.url, "model_name": "m"}, settings={"request_timeout_s": 0.5})
    fake.mode = mode
    for stream in (False, True):
        message = messages if isinstance(messages, str) else messages[stream]
        with pytest.raises(grpc.RpcError) as e:
            s.client.infer_stream({"message": "hi", "stream": stream, "session_id": "f"})
        got_code, details = code_details(e)
        assert got_code == code and details == f"openai-compatible server at {fake.url} {message}", details
    with pytest.raises(grpc.RpcError):
        s.client.manage("history", {"session_id": "f"})  # nothing was remembered: NOT_FOUND


def test_closed_port_is_unavailable_and_unhealthy_quickly(serve_block: Any) -> None:
    port = llama_server.free_port()
    url = f"http://127.0.0.1:{port}"
    s = serve_block({"vllm_server_url": url})  # no model_name: asking /v1/models fails the same way
    began = time.monotonic()
    health = s.client.health()
    details = json.loads(health.details_json)
    assert health.status == "unhealthy" and details["vllm_reachable"] is False and details["server_url"] == url
    assert details["status"] == "unhealthy" and "unreachable" in details["error"]
    for data in ({"message": "hi"}, {"message": "hi", "stream": True}):
        with pytest.raises(grpc.RpcError) as e:
            s.client.infer_stream(data)
        code, msg = code_details(e)
        assert code == grpc.StatusCode.UNAVAILABLE
        assert msg.startswith(f"openai-compatible server at {url} is unreachable: ConnectionRefusedError"), msg
    assert time.monotonic() - began < 3.0


def test_unresolvable_host(serve_block: Any) -> None:
    s = serve_block({"vllm_server_url": "http://no-such-host.invalid:8000", "model_name": "m"})
    with pytest.raises(grpc.RpcError) as e:
        s.client.infer({"message": "hi"})
    code, msg = code_details(e)
    assert code == grpc.StatusCode.UNAVAILABLE and "cannot resolve host 'no-such-host.invalid'" in msg


def test_history_and_session_bounds(serve_block: Any, fake: Any) -> None:
    s = serve_block({"vllm_server_url": fake.url, "model_name": "m", "max_sessions": 2, "max_history_messages": 3})
    for i in range(3):
        s.client.infer({"message": f"q{i}", "session_id": "a"})
    messages = json.loads(s.client.manage("history", {"session_id": "a"}).result_json)["messages"]
    # The system prompt is kept; 3 messages would start with an assistant turn, so 2 are kept.
    assert [m["content"] for m in messages] == ["You are a helpful assistant.", "q2", "reply 3"]
    assert [m["content"] for m in fake.requests[-1]["body"]["messages"]] == [
        "You are a helpful assistant.", "q1", "reply 2", "q2"]
    s.client.infer({"message": "x", "session_id": "b"})
    s.client.infer({"message": "x", "session_id": "c"})  # evicts "a", the least recently used
    sessions = json.loads(s.client.manage("sessions").result_json)
    assert sessions == {"count": 2, "session_ids": ["c", "b"], "truncated": False, "max_sessions": 2}
    assert json.loads(s.client.manage("sessions", {"limit": 1}).result_json)["truncated"] is True

    assert json.loads(s.client.manage("reset", {"session_id": "b"}).result_json) == {"reset": True,
                                                                                      "sessions_cleared": 1}
    assert json.loads(s.client.manage("reset").result_json) == {"reset": True, "sessions_cleared": 1}
    for action, data, code, message in [
        ("history", {"session_id": "c"}, grpc.StatusCode.NOT_FOUND, "no session 'c'"),
        ("history", {}, grpc.StatusCode.INVALID_ARGUMENT, 'history needs {"session_id": "..."}'),
        ("reset", {"session_id": 5}, grpc.StatusCode.INVALID_ARGUMENT, "session_id must be a string, got int"),
        ("compact", {}, grpc.StatusCode.INVALID_ARGUMENT, "unknown management action 'compact'"),
    ]:
        with pytest.raises(grpc.RpcError) as e:
            s.client.manage(action, data)
        assert e.value.code() == code and message in e.value.details()


def test_on_update_validates(serve_block: Any, fake: Any) -> None:
    s = serve_block({"vllm_server_url": fake.url, "model_name": "m"})
    reply = s.client.update({"temperature": 1, "max_new_tokens": 4.0})
    assert json.loads(reply.result_json) == {"temperature": 1.0, "max_new_tokens": 4}
    s.client.infer({"message": "hi"})
    assert (fake.requests[-1]["body"]["temperature"], fake.requests[-1]["body"]["max_tokens"]) == (1.0, 4)
    for params, message in [({"temperature": "hot"}, "temperature must be a number, got 'hot'"),
                            ({"max_new_tokens": -2}, "max_new_tokens must be >= 1, got -2"),
                            ({"max_new_tokens": True}, "max_new_tokens must be an integer, got True")]:
        with pytest.raises(grpc.RpcError) as e:
            s.client.update(params)
        assert code_details(e) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    assert s.block.context.block_init_parameters == {"temperature": 1, "max_new_tokens": 4.0}  # rolled back
    assert (s.instance.temperature, s.instance.max_new_tokens) == (1.0, 4)


def test_health_with_fake(serve_block: Any, fake: Any) -> None:
    s = serve_block({"vllm_server_url": fake.url, "model_name": "m"})
    h = s.client.health()
    assert h.status == "healthy"
    assert json.loads(h.details_json) == {"status": "healthy", "vllm_reachable": True, "server_url": fake.url}
    fake.mode = "500"
    details: Dict[str, Any] = json.loads(s.client.health().details_json)
    assert details["status"] == "unhealthy" and details["error"].endswith("answered 500: engine crashed")
