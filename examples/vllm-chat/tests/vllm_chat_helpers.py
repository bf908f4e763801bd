"""Shared pieces of the vllm-chat tests: the block class (loaded from ../block.py under a unique module name),
block documents, and a scriptable fake OpenAI-compatible server."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
REPO = os.path.abspath(os.path.join(EXAMPLE, "..", ".."))
LLM_INIT = os.path.join(REPO, "examples", "llm-init")
SDK_TESTS = os.path.join(REPO, "python", "aios_instance", "tests")
for path in (LLM_INIT, SDK_TESTS):
    if path not in sys.path:
        sys.path.insert(0, path)

import llama_server  # noqa: E402,F401  (re-exported for the tests)


def _load_block() -> Any:
    spec = importlib.util.spec_from_file_location("vllm_chat_block", os.path.join(EXAMPLE, "block.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["vllm_chat_block"] = module
    spec.loader.exec_module(module)
    return module


block_module = _load_block()
VLLMChatBlock = block_module.VLLMChatBlock


def block_doc(init: Dict[str, Any], parameters: Optional[Dict[str, Any]] = None,
              settings: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return {
        "blockId": "vllm-chat-test", "instanceId": "vllm-chat-test-0", "componentURI": "model.vllm-chat:1.0.0-stable",
        "blockInitData": init,
        "initSettings": settings if settings is not None else {"request_timeout_s": 30},
        "parameters": parameters if parameters is not None else {"temperature": 0, "max_new_tokens": 12},
        "policies": {}, "allocation": {"clusterId": "local", "nodeId": "node-1", "gpus": []}, "simulated": False,
    }


# ------------------------------------------------------------------------------------------------ fake server


class FakeOpenAI:
    """A scriptable OpenAI-compatible server. ``mode`` picks the behaviour; ``requests`` records what came in."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: List[Dict[str, Any]] = []
        self.calls = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (the "slow" mode)

            def do_GET(self) -> None:
                fake.requests.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
                if fake.mode == "500":
                    self._send(500, b'{"error": {"message": "engine crashed"}}')
                else:
                    self._send(200, json.dumps({"object": "list", "data": [{"id": "fake-model"}]}).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                      "body": body})
                fake.calls += 1
                mode = fake.mode
                if mode == "500":
                    self._send(503, b'{"error": {"message": "engine crashed\\nbadly"}}')
                elif mode == "401":
                    self._send(401, b'{"error": {"message": "invalid api key", "type": "auth"}}')
                elif mode == "garbage":
                    self._send(200, b"<html>not json</html>", "text/html")
                elif mode == "slow":
                    time.sleep(1.5)
                    self._send(200, b"{}")
                elif body.get("stream"):
                    self._stream(mode == "truncated")
                else:
                    reply = f"reply {fake.calls}"
                    self._send(200, json.dumps({
                        "id": "x", "object": "chat.completion", "model": body.get("model"),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode())

            def _stream(self, truncated: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                events = [": ping - comment\r\n\r\n",
                          'data: {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}\r\n\r\n',
                          'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\r\n\r\n',
                          'event: message\ndata: {"choices": [{"index": 0, "delta": {"content": ""}}]}\n\n',
                          'data: {"choices": [{"index": 0, "delta": {"content": "lo"}}]}\n\n']
                if not truncated:
                    events += ['data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n',
                               "data: [DONE]\n\n"]
                for e in events:
                    self.wfile.write(e.encode())
                    self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
