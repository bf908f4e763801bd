"""Shared helpers for the aios_splits tests: run a splitter program as the platform would, parse its lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent
REPO = PACKAGE_ROOT.parent.parent
PROGRAMS = HERE / "programs"
STAGE = "AIOS_SPLIT_STAGE "
PROGRESS = "AIOS_SPLIT_PROGRESS "
SPLIT_VARS = ("TASK_ID", "TASK_DATA", "AIOS_SPLIT_OUTPUT_DIR")


@dataclass
class SplitRun:
    returncode: int
    stdout: str
    stderr: str
    stages: List[Dict[str, Any]]
    progress: List[Dict[str, Any]]

    def stage(self, name: str) -> Dict[str, Any]:
        found = [s for s in self.stages if s["stage"] == name]
        assert len(found) == 1, (name, self.stages)
        return found[0]


def parse_lines(stdout: str, prefix: str) -> List[Dict[str, Any]]:
    return [json.loads(line[len(prefix):]) for line in stdout.splitlines() if line.startswith(prefix)]


def base_env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SPLIT_VARS}
    env["PYTHONPATH"] = str(PACKAGE_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONUNBUFFERED", None)  # stdout is a block-buffered pipe: the SDK must flush on its own
    env.update(extra or {})
    return env


def run_argv(argv: Sequence[str], env: Mapping[str, str], cwd: Optional[Path] = None, timeout: float = 120) -> SplitRun:
    proc = subprocess.run(list(argv), env=base_env(env), capture_output=True, text=True, timeout=timeout,
                          cwd=str(cwd or PROGRAMS))
    return SplitRun(proc.returncode, proc.stdout, proc.stderr, parse_lines(proc.stdout, STAGE),
                    parse_lines(proc.stdout, PROGRESS))


def run_program(program: Path, env: Mapping[str, str], timeout: float = 60) -> SplitRun:
    return run_argv([sys.executable, str(program)], env, cwd=program.parent, timeout=timeout)


def fake_model(layers: int = 4) -> Dict[str, Any]:
    return {"name": "Tiny Test Model", "architecture": "llama", "layers": layers, "dtype": "Q4_1",
            "source": "/models/tiny.gguf", "sha256": "ab" * 32, "size": 1234}
