"""vllm-chat: an AIOS-compatible chat block that proxies an OpenAI-compatible server (vLLM, llama.cpp, TGI ...).

This is AIOS's reference ``VLLMChatBlock`` (``examples/mistral7b/block.py``) with its defects fixed: every HTTP
call has a timeout, streaming, an optional API key, bounded session memory, history that only grows when the
remote call succeeded, and failures that end the call with a meaningful gRPC status (``UNAVAILABLE`` when the
server cannot be reached or fails, ``INVALID_ARGUMENT`` for bad input) instead of ``INTERNAL``.

Where the server is (``blockInitData``):
    ``vllm_server_url`` (externally managed), else ``initContainer.server_url`` (set by an init container);
    ``model_name`` (else ``initContainer.model_name``, else the first id of ``GET /v1/models``);
    ``api_key`` (else ``initContainer.api_key``): sent as ``Authorization: Bearer``.
Other ``blockInitData``: ``system_prompt``, ``max_sessions`` (1000), ``max_history_messages`` (40).
``initSettings``: ``request_timeout_s`` (60; ``timeout_ms`` is read when it is absent).
Parameters: ``temperature`` (0.7), ``max_new_tokens`` (256; also read from ``initSettings`` as AIOS did).

Input (packet data, JSON):
    AIOS form    ``{"message": "...", "session_id"?: "...", "stream"?: bool}``: the block keeps the history;
                 output ``{"reply", "session_id", "usage", "finish_reason"}``.
    OpenAI form  a ``/v1/chat/completions`` body ``{"messages": [...], "stream"?, "temperature"?, "max_tokens"?,
                 ...}``: stateless; output ``{"reply", "usage", "finish_reason"}``.
    muxed        ``{"inputs": [<either form>, ...]}``: one output per item.
With ``"stream": true`` the outputs are ``{"token": "..."}``, one per generated piece.

The runtime starts it as ``python3 block.py`` in this directory; that python3 needs the SDK
(``pip install -e python/aios_instance`` from the repository root). Only the standard library otherwise.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import grpc

from aios_instance import Block, BlockError, InvalidArgument, OnDataResult, PreProcessResult, SessionsManager, Unavailable

log = logging.getLogger("vllm-chat")

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_NEW_TOKENS = 256
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_SESSIONS = 1000
DEFAULT_MAX_HISTORY_MESSAGES = 40
HEALTH_TIMEOUT_S = 2.0
MAX_TEMPERATURE = 2.0
#: How much of a remote error body goes into an error message.
MAX_BODY_EXCERPT = 300
#: Most session ids the "sessions" management action lists.
MAX_LISTED_SESSIONS = 1000
DEFAULT_LISTED_SESSIONS = 100
#: Largest response body read from the server (a non-streamed completion or the model list).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
#: Longest SSE line accepted from the server.
MAX_SSE_LINE = 1024 * 1024

#: Keys of an OpenAI request the block sets itself (the rest of the body is forwarded unchanged).
_OWNED_KEYS = ("model", "messages", "stream", "stream_options", "temperature", "max_tokens", "max_new_tokens",
               "session_id")
_ROLES = ("system", "user", "assistant", "tool", "function", "developer")

Message = Dict[str, Any]


# ------------------------------------------------------------------------------------------------ validation


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument(f"{name} must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidArgument(f"{name} must be between {lo:g} and {hi:g}, got {value!r}")
    return float(value)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise InvalidArgument(f"{name} must be >= 1, got {value}")
    return value


def _timeout_setting(settings: Mapping[str, Any]) -> float:
    if "request_timeout_s" in settings:
        return _number(settings["request_timeout_s"], "initSettings.request_timeout_s", 0.001, 86400.0)
    if "timeout_ms" in settings:
        return _number(settings["timeout_ms"], "initSettings.timeout_ms", 1.0, 86400000.0) / 1000.0
    return DEFAULT_TIMEOUT_S


def _excerpt(text: str, limit: int = MAX_BODY_EXCERPT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _remote_error_message(body: bytes) -> str:
    """The error message inside an OpenAI-style (or FastAPI) error body, else an excerpt of the body."""
    text = body.decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return _excerpt(text) or "(empty body)"
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return _excerpt(err["message"])
        if isinstance(err, str):
            return _excerpt(err)
        if isinstance(doc.get("message"), str):
            return _excerpt(doc["message"])
        if "detail" in doc:
            detail = doc["detail"]
            return _excerpt(detail if isinstance(detail, str) else json.dumps(detail))
    return _excerpt(text)


# ------------------------------------------------------------------------------------------------ HTTP client


class OpenAIClient:
    """A minimal client for an OpenAI-compatible server (``/v1/models``, ``/v1/chat/completions``).

    Standard library only. Every call has a timeout (per socket operation: connecting and each read, so a
    stream may run longer as long as data keeps coming). Failures raise ``Unavailable`` (cannot connect,
    timeout, 5xx, 408/429, a response that is not what the API promises) or ``InvalidArgument`` (other 4xx),
    and log one line.
    """

    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        url = base_url.strip().rstrip("/")
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError(f"server URL must be http(s)://host[:port][/path], got {base_url!r}")
        port = parts.port  # ValueError for a port that is not a number
        path = parts.path.rstrip("/")
        if path.endswith("/v1"):  # "http://host:8000/v1" is the usual OpenAI base URL: the paths add /v1
            path = path[: -len("/v1")]
        self.url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self._https = parts.scheme == "https"
        self._host: str = host
        self._port: Optional[int] = port
        self._prefix = path
        self.api_key = api_key or None
        self.timeout_s = timeout_s

    # -- plumbing

    def _headers(self, body: bool) -> Dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream", "User-Agent": "aios-vllm-chat/1.0"}
        if body:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _unreachable(self, method: str, path: str, exc: BaseException, timeout: float) -> BlockError:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            why = f"timed out after {timeout:g} s"
        elif isinstance(exc, socket.gaierror):
            why = f"cannot resolve host {self._host!r}: {exc}"
        else:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return self._fail(method, path, Unavailable(f"openai-compatible server at {self.url} is unreachable: {why}"))

    def _fail(self, method: str, path: str, err: BlockError) -> BlockError:
        log.warning("%s %s%s failed: %s: %s", method, self.url, path, err.code.name, err.message)
        return err

    def _status_error(self, method: str, path: str, status: int, body: bytes) -> BlockError:
        detail = _remote_error_message(body)
        if status >= 500 or status in (408, 429):
            err: BlockError = Unavailable(f"openai-compatible server at {self.url} answered {status}: {detail}")
        else:
            err = InvalidArgument(f"openai-compatible server at {self.url} rejected the request ({status}): {detail}")
        return self._fail(method, path, err)

    def bad_response(self, method: str, path: str, what: str) -> BlockError:
        return self._fail(method, path, Unavailable(f"openai-compatible server at {self.url} sent {what}"))

    def _reported_error(self, method: str, path: str, body: bytes) -> BlockError:
        detail = _remote_error_message(body)
        return self._fail(method, path, Unavailable(f"openai-compatible server at {self.url} reported an error: {detail}"))

    def _open(self, method: str, path: str, payload: Optional[Dict[str, Any]],
              timeout: float) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Sends the request; returns the connection and a 2xx response (the caller closes the connection)."""
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=timeout,
                                               context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        full = self._prefix + path
        try:
            body = None if payload is None else json.dumps(payload).encode("utf-8")
            conn.request(method, full, body=body, headers=self._headers(body is not None))
            resp = conn.getresponse()
            if not 200 <= resp.status < 300:
                err_body = resp.read(64 * 1024)
                raise self._status_error(method, path, resp.status, err_body)
            return conn, resp
        except BlockError:
            conn.close()
            raise
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise self._unreachable(method, path, e, timeout) from None

    def _json(self, method: str, path: str, payload: Optional[Dict[str, Any]], timeout: float) -> Any:
        conn, resp = self._open(method, path, payload, timeout)
        try:
            raw = resp.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, http.client.HTTPException) as e:
            raise self._unreachable(method, path, e, timeout) from None
        finally:
            conn.close()
        if len(raw) > MAX_RESPONSE_BYTES:
            raise self.bad_response(method, path, f"a response larger than {MAX_RESPONSE_BYTES} bytes")
        try:
            return json.loads(raw)
        except ValueError:
            raise self.bad_response(method, path, f"a body that is not JSON: {_excerpt(raw.decode('utf-8', 'replace'))}") from None

    # -- API

    def models(self, timeout: Optional[float] = None) -> List[str]:
        """The model ids ``GET /v1/models`` lists."""
        doc = self._json("GET", "/v1/models", None, self.timeout_s if timeout is None else timeout)
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, list):
            raise self.bad_response("GET", "/v1/models", "a model list without a \"data\" array")
        return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]

    def _event(self, path: str, data: str) -> Dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise self.bad_response("POST", path, f"an event that is not JSON: {_excerpt(data)}") from None
        if not isinstance(chunk, dict):
            raise self.bad_response("POST", path, f"an event that is not a JSON object: {_excerpt(data)}")
        if chunk.get("error"):
            raise self._reported_error("POST", path, data.encode("utf-8"))
        return chunk

    def chat(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """``POST /v1/chat/completions`` (not streamed); returns the completion document."""
        path = "/v1/chat/completions"
        doc = self._json("POST", path, body, self.timeout_s)
        if not isinstance(doc, dict):
            raise self.bad_response("POST", path, "a completion that is not a JSON object")
        if doc.get("error"):  # some servers answer 200 with an error document
            raise self._reported_error("POST", path, json.dumps(doc).encode("utf-8"))
        return doc

    def chat_stream(self, body: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        """``POST /v1/chat/completions`` with ``stream: true``; yields each SSE ``data:`` chunk, until ``[DONE]``.

        Closing the generator closes the connection (the server then stops generating)."""
        path = "/v1/chat/completions"
        timeout = self.timeout_s
        conn, resp = self._open("POST", path, dict(body, stream=True), timeout)
        done = False
        finished = False
        try:
            ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "text/event-stream":
                try:
                    raw = resp.read(MAX_RESPONSE_BYTES)
                except (OSError, http.client.HTTPException) as e:
                    raise self._unreachable("POST", path, e, timeout) from None
                text = raw.decode("utf-8", "replace")
                try:
                    doc = json.loads(text) if ctype == "application/json" else None
                except ValueError:
                    doc = None
                if isinstance(doc, dict) and doc.get("error"):
                    raise self._reported_error("POST", path, raw)
                try:
                    if not isinstance(doc, dict):
                        raise ValueError("not a completion")
                    content, reason = _completion_text(doc)
                except ValueError:
                    raise self.bad_response("POST", path, f"a response that is not an event stream "
                                                          f"(Content-Type {ctype or 'none'}): {_excerpt(text)}") from None
                # The server ignored "stream": hand on its whole completion as one delta.
                yield {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": reason or "stop"}]}
                return
            data_lines: List[str] = []
            while not done:
                try:
                    raw = resp.readline(MAX_SSE_LINE + 1)
                except (OSError, http.client.HTTPException) as e:
                    raise self._unreachable("POST", path, e, timeout) from None
                if len(raw) > MAX_SSE_LINE:
                    raise self.bad_response("POST", path, f"an event-stream line longer than {MAX_SSE_LINE} bytes")
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line:
                    if line.startswith("data:"):
                        value = line[5:]
                        data_lines.append(value[1:] if value.startswith(" ") else value)
                    continue  # comments (": ping ..."), "event:", "id:" and "retry:" lines are ignored
                if data_lines:  # a blank line (or the end of the stream) dispatches the event
                    data = "\n".join(data_lines)
                    data_lines = []
                    if data.strip() == "[DONE]":
                        done = True
                        break
                    chunk = self._event(path, data)
                    choices = chunk.get("choices")
                    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
                        finished = finished or bool(choices[0].get("finish_reason"))
                    yield chunk
                if not raw:
                    break  # end of the stream
            if not done and not finished:
                raise self._fail("POST", path, Unavailable(
                    f"openai-compatible server at {self.url} ended the stream before [DONE]"))
        finally:
            conn.close()


# ------------------------------------------------------------------------------------------------ requests


@dataclass
class ChatRequest:
    """One parsed input item."""

    form: str  # "aios" or "openai"
    stream: bool = False
    message: str = ""  # aios
    session_id: str = "default"  # aios
    messages: List[Message] = field(default_factory=list)  # openai
    temperature: Optional[float] = None  # openai overrides
    max_tokens: Optional[int] = None
    extra: Dict[str, Any] = field(default_factory=dict)  # openai: other body fields, forwarded


def _where(index: Optional[int], name: str) -> str:
    return f"inputs[{index}].{name}" if index is not None else name


def parse_item(item: Any, packet_session: str, index: Optional[int] = None) -> ChatRequest:
    """Validates one input (AIOS or OpenAI form); raises ``InvalidArgument`` naming the bad field."""
    if not isinstance(item, dict):
        what = f"inputs[{index}]" if index is not None else "packet data"
        raise InvalidArgument(f'{what} must be a JSON object like {{"message": "..."}} or {{"messages": [...]}}, '
                              f"got {type(item).__name__}")
    stream = item.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidArgument(f"{_where(index, 'stream')} must be a boolean, got {stream!r}")
    has_message, has_messages = "message" in item, "messages" in item
    if has_message and has_messages:
        raise InvalidArgument(f'give either {_where(index, "message")} (AIOS form) or {_where(index, "messages")} '
                              "(OpenAI form), not both")
    if has_messages:
        return _parse_openai(item, stream, index)
    if not has_message:
        raise InvalidArgument(f'missing field {_where(index, "message")} (AIOS form) or {_where(index, "messages")} '
                              "(OpenAI form)")
    message = item["message"]
    if not isinstance(message, str):
        raise InvalidArgument(f"{_where(index, 'message')} must be a string, got {type(message).__name__}")
    if not message.strip():
        raise InvalidArgument(f"{_where(index, 'message')} is empty")
    session_id = item.get("session_id")
    if session_id is None or session_id == "":
        session_id = packet_session or "default"
    elif not isinstance(session_id, str):
        raise InvalidArgument(f"{_where(index, 'session_id')} must be a string, got {type(session_id).__name__}")
    return ChatRequest(form="aios", stream=stream, message=message, session_id=session_id)


def _parse_openai(item: Dict[str, Any], stream: bool, index: Optional[int]) -> ChatRequest:
    messages = item["messages"]
    name = _where(index, "messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidArgument(f"{name} must be a non-empty list of {{\"role\", \"content\"}} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InvalidArgument(f"{name}[{i}] must be an object, got {type(m).__name__}")
        role = m.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise InvalidArgument(f"{name}[{i}].role must be one of {', '.join(_ROLES)}, got {role!r}")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise InvalidArgument(f"{name}[{i}].content must be a string or a list of parts, "
                                  f"got {type(content).__name__}")
    req = ChatRequest(form="openai", stream=stream, messages=messages)
    if item.get("temperature") is not None:
        req.temperature = _number(item["temperature"], _where(index, "temperature"), 0.0, MAX_TEMPERATURE)
    for key in ("max_tokens", "max_completion_tokens"):
        if item.get(key) is not None:
            req.max_tokens = _positive_int(item[key], _where(index, key))
            break
    n = item.get("n")
    if n is not None and n != 1:
        raise InvalidArgument(f"{_where(index, 'n')} must be 1 (one choice per request), got {n!r}")
    req.extra = {k: v for k, v in item.items() if k not in _OWNED_KEYS and k not in ("max_completion_tokens", "n")}
    return req


def _completion_text(doc: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    """``choices[0].message.content`` and ``finish_reason``; ``None`` content counts as ``""``."""
    choices = doc.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise ValueError("choices[0] has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ValueError("choices[0].message.content is not a string")
    reason = choices[0].get("finish_reason")
    return content or "", reason if isinstance(reason, str) else None


def _delta_text(chunk: Dict[str, Any]) -> str:
    choices = chunk.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta")
    if not isinstance(delta, dict):
        return ""
    content = delta.get("content")
    return content if isinstance(content, str) else ""


# ------------------------------------------------------------------------------------------------ the block


class VLLMChatBlock:
    def __init__(self, context: Any) -> None:
        self.context = context
        init: Dict[str, Any] = context.block_init_data
        ic = init.get("initContainer")
        init_container: Dict[str, Any] = ic if isinstance(ic, dict) else {}

        url = init.get("vllm_server_url") or init_container.get("server_url")
        if not url or not isinstance(url, str):
            raise ValueError("no server URL: set blockInitData.vllm_server_url (an externally managed server) or "
                             "deploy one with an init container that returns blockInitData.initContainer.server_url")
        api_key = init.get("api_key") or init_container.get("api_key")
        if api_key is not None and not isinstance(api_key, str):
            raise ValueError("blockInitData.api_key must be a string")
        timeout_s = _timeout_setting(context.block_init_settings)
        self.client = OpenAIClient(url, api_key=api_key, timeout_s=timeout_s)
        self.server_url = self.client.url

        model = init.get("model_name") or init_container.get("model_name")
        if model is not None and not isinstance(model, str):
            raise ValueError("blockInitData.model_name must be a string")
        self._model: Optional[str] = model or None

        prompt = init.get("system_prompt", DEFAULT_SYSTEM_PROMPT)
        if not isinstance(prompt, str):
            raise ValueError("blockInitData.system_prompt must be a string")
        self.system_prompt = prompt
        self.max_history_messages = _positive_int(init.get("max_history_messages", DEFAULT_MAX_HISTORY_MESSAGES),
                                                  "blockInitData.max_history_messages")
        max_sessions = _positive_int(init.get("max_sessions", DEFAULT_MAX_SESSIONS), "blockInitData.max_sessions")
        self.sessions = SessionsManager(max_sessions)

        self.temperature, self.max_new_tokens = self._generation_settings()
        self._lock = threading.Lock()
        self._healthy: Optional[bool] = None
        log.info("vllm-chat ready: block=%s instance=%s server=%s model=%s temperature=%g max_new_tokens=%d "
                 "timeout=%gs", context.block_id, context.instance_id, self.server_url, self._model or "(ask server)",
                 self.temperature, self.max_new_tokens, timeout_s)

    # -- settings

    def _generation_settings(self) -> Tuple[float, int]:
        params = self.context.block_init_parameters
        settings = self.context.block_init_settings
        temperature = _number(params.get("temperature", DEFAULT_TEMPERATURE), "temperature", 0.0, MAX_TEMPERATURE)
        raw_max = params.get("max_new_tokens", settings.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        return temperature, _positive_int(raw_max, "max_new_tokens")

    def on_update(self, params: Dict[str, Any]) -> Tuple[bool, Dict[str, Any]]:
        # The SDK has merged params into context.block_init_parameters already, and rolls back if this raises.
        temperature, max_new_tokens = self._generation_settings()
        with self._lock:
            self.temperature, self.max_new_tokens = temperature, max_new_tokens
        log.info("parameters: temperature=%g max_new_tokens=%d", temperature, max_new_tokens)
        return True, {"temperature": temperature, "max_new_tokens": max_new_tokens}

    def model_name(self) -> str:
        """The configured model, else the first one the server lists (asked once)."""
        if self._model is None:
            ids = self.client.models()
            if not ids:
                raise Unavailable(f"openai-compatible server at {self.server_url} lists no models "
                                  "(set blockInitData.model_name)")
            with self._lock:
                if self._model is None:
                    self._model = ids[0]
                    log.info("model_name not configured: using %s (the first model the server lists)", ids[0])
        assert self._model is not None
        return self._model

    # -- inference

    def on_preprocess(self, packet: Any) -> Tuple[bool, List[PreProcessResult]]:
        try:
            data = json.loads(packet.data)
        except ValueError as e:
            raise InvalidArgument(f'packet data is not JSON (expected {{"message": "..."}}): {e}') from None
        if isinstance(data, dict) and "inputs" in data:
            items = data["inputs"]
            if not isinstance(items, list):
                raise InvalidArgument(f"inputs must be a list, got {type(items).__name__}")
            requests = [parse_item(item, packet.session_id, i) for i, item in enumerate(items)]
        else:
            requests = [parse_item(data, packet.session_id)]
        return True, [PreProcessResult(packet=packet, extra_data=r) for r in requests]

    def on_data(self, entry: Any) -> Tuple[bool, OnDataResult]:
        req: ChatRequest = entry.extra_data
        with self._lock:
            temperature, max_tokens = self.temperature, self.max_new_tokens
        if req.form == "aios":
            messages = self._history(req.session_id) + [{"role": "user", "content": req.message}]
            body: Dict[str, Any] = {"model": self.model_name(), "messages": messages,
                                    "temperature": temperature, "max_tokens": max_tokens}
        else:
            body = dict(req.extra)
            body.update({
                "model": self.model_name(), "messages": req.messages,
                "temperature": temperature if req.temperature is None else req.temperature,
                "max_tokens": max_tokens if req.max_tokens is None else req.max_tokens,
            })
        if req.stream:
            return True, OnDataResult(output=self._stream(req, body))
        doc = self.client.chat(body)
        try:
            reply, finish_reason = _completion_text(doc)
        except ValueError as e:
            raise self.client.bad_response("POST", "/v1/chat/completions",
                                            f"a completion without a reply ({e}): {_excerpt(json.dumps(doc))}") from None
        usage = doc.get("usage") if isinstance(doc.get("usage"), dict) else {}
        out: Dict[str, Any] = {"reply": reply}
        if req.form == "aios":
            self._remember(req.session_id, req.message, reply)
            out["session_id"] = req.session_id
        out["usage"] = usage
        out["finish_reason"] = finish_reason
        return True, OnDataResult(output=out)

    def _stream(self, req: ChatRequest, body: Dict[str, Any]) -> Iterator[Dict[str, str]]:
        pieces: List[str] = []
        for chunk in self.client.chat_stream(body):
            text = _delta_text(chunk)
            if text:
                pieces.append(text)
                yield {"token": text}
        if req.form == "aios":  # only once the stream completed: a cancelled stream leaves no half turn
            self._remember(req.session_id, req.message, "".join(pieces))

    # -- sessions

    def _new_history(self) -> List[Message]:
        return [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []

    def _history(self, session_id: str) -> List[Message]:
        with self._lock:
            history = self.sessions.get(session_id)
            return [dict(m) for m in history] if history is not None else self._new_history()

    def _remember(self, session_id: str, message: str, reply: str) -> None:
        with self._lock:
            history: Optional[List[Message]] = self.sessions.get(session_id)
            if history is None:
                history = self._new_history()
            history = history + [{"role": "user", "content": message}, {"role": "assistant", "content": reply}]
            system = [m for m in history[:1] if m.get("role") == "system"]
            turns = history[len(system):]
            if len(turns) > self.max_history_messages:
                turns = turns[-self.max_history_messages:]
                while turns and turns[0].get("role") != "user":  # start the kept history at a user turn
                    turns = turns[1:]
            self.sessions.set(session_id, system + turns)

    # -- health and management

    def health(self) -> Dict[str, Any]:
        try:
            self.client.models(timeout=HEALTH_TIMEOUT_S)
        except BlockError as e:
            if self._healthy is not False:
                log.warning("health: %s", e.message)
            self._healthy = False
            return {"status": "unhealthy", "vllm_reachable": False, "server_url": self.server_url, "error": e.message}
        if self._healthy is False:
            log.info("health: %s answers again", self.server_url)
        self._healthy = True
        return {"status": "healthy", "vllm_reachable": True, "server_url": self.server_url}

    def management(self, action: str, data: Any) -> Dict[str, Any]:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidArgument(f"management data must be a JSON object, got {type(data).__name__}")
        session_id = data.get("session_id")
        if session_id is not None and not isinstance(session_id, str):
            raise InvalidArgument(f"session_id must be a string, got {type(session_id).__name__}")
        if action == "reset":
            with self._lock:
                cleared = (1 if self.sessions.delete(session_id) else 0) if session_id else self.sessions.clear()
            self.context.events.push_event("reset", {"sessions_cleared": cleared, "session_id": session_id})
            return {"reset": True, "sessions_cleared": cleared}
        if action == "sessions":
            limit = _positive_int(data.get("limit", DEFAULT_LISTED_SESSIONS), "limit")
            limit = min(limit, MAX_LISTED_SESSIONS)
            with self._lock:
                ids = self.sessions.keys()
            recent = ids[::-1][:limit]  # most recently used first
            return {"count": len(ids), "session_ids": recent, "truncated": len(ids) > len(recent),
                    "max_sessions": self.sessions.max_sessions}
        if action == "history":
            if not session_id:
                raise InvalidArgument('history needs {"session_id": "..."}')
            with self._lock:
                history = self.sessions.get(session_id)
                messages = [dict(m) for m in history] if history is not None else None
            if messages is None:
                raise BlockError(grpc.StatusCode.NOT_FOUND, f"no session {session_id!r}")
            return {"session_id": session_id, "messages": messages}
        raise InvalidArgument(f"unknown management action {action!r} (supported: reset, sessions, history)")


if __name__ == "__main__":
    Block(VLLMChatBlock).run()
