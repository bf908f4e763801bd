from __future__ import annotations

import os
import sys
from typing import Any, Callable, Iterator, List

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import Served  # noqa: E402


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """``serve(BlockClass, block_data=None)`` starts the block in-process; stopped after the test."""
    started: List[Served] = []

    def start(block_class: type, block_data: Any = None) -> Served:
        s = Served(block_class, block_data)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()
