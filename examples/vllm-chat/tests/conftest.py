"""Fixtures for the vllm-chat tests: one real llama.cpp server per session, a scriptable fake server, and the
block served in-process by the SDK (``Block.start()``), called through the gRPC stub."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from vllm_chat_helpers import FakeOpenAI, VLLMChatBlock, block_doc, llama_server  # noqa: E402
from helpers import Served  # noqa: E402  (the SDK's own test helpers, put on sys.path by vllm_chat_helpers)


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[llama_server.ServerHandle]:
    """One llama.cpp server (SmolLM2-135M-Instruct) for the whole session."""
    if not llama_server.server_available():
        pytest.skip("llama-cpp-python[server] is not installed")
    try:
        llama_server.model_path()
    except llama_server.LlamaServerError as e:
        pytest.skip(str(e))
    log = str(tmp_path_factory.mktemp("llama") / "server.log")
    handle = llama_server.start(log_path=log)
    try:
        handle.wait_ready(120)
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def serve_block() -> Iterator[Callable[..., Served]]:
    """``serve_block(init, parameters=None, settings=None)``: the block served in-process; stopped after the test."""
    started: List[Served] = []

    def start(init: Dict[str, Any], parameters: Optional[Dict[str, Any]] = None,
              settings: Optional[Dict[str, Any]] = None) -> Served:
        s = Served(VLLMChatBlock, block_doc(init, parameters, settings))
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    f = FakeOpenAI()
    yield f
    f.close()
