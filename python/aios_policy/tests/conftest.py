from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import pytest

HERE = Path(__file__).resolve().parent
PKG = HERE.parent
sys.path.insert(0, str(HERE))  # policy_helpers
sys.path.insert(0, str(PKG))  # aios_policy, even when not installed


@pytest.fixture
def make_policy(tmp_path: Path) -> Callable[[str], Path]:
    """``make_policy(source) -> code dir`` holding ``function.py`` with that source."""
    counter = [0]

    def make(source: str) -> Path:
        counter[0] += 1
        code = tmp_path / f"policy{counter[0]}" / "code"
        code.mkdir(parents=True)
        (code / "function.py").write_text(source)
        return code

    return make
