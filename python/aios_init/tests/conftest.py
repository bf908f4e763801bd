from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # init_helpers
sys.path.insert(0, str(HERE.parent))  # aios_init, even when not installed

from init_helpers import SAMPLE_BLOCK  # noqa: E402


@pytest.fixture
def block_file(tmp_path: Path):
    def write(data: Any, name: str = "block.json") -> Path:
        p = tmp_path / name
        p.write_text(data if isinstance(data, str) else json.dumps(data))
        return p

    return write


@pytest.fixture
def init_env(tmp_path: Path, block_file):
    """``init_env(mode, block=..., **extra)``: the full environment the platform sets."""

    def make(mode: str = "create", block: Any = None, **extra: str) -> Dict[str, str]:
        env = {
            "AIOS_INIT_MODE": mode,
            "AIOS_BLOCK_ID": "blk-1",
            "AIOS_CLUSTER_ID": "cluster-a",
            "AIOS_BLOCK_FILE": str(block_file(block if block is not None else SAMPLE_BLOCK)),
            "AIOS_INIT_STATE_DIR": str(tmp_path / "state" / "blk-1"),
        }
        env.update(extra)
        return env

    return make
