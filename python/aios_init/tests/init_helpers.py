"""Shared helpers for the aios_init tests: run an init program as the platform would, parse its stage lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent
PROGRAMS = HERE / "programs"
EXAMPLES = PACKAGE_ROOT / "examples"
PREFIX = "AIOS_INIT_STAGE "

AIOS_VARS = (
    "AIOS_INIT_MODE",
    "AIOS_BLOCK_ID",
    "AIOS_CLUSTER_ID",
    "AIOS_BLOCK_FILE",
    "AIOS_INIT_STATE_DIR",
    "AIOS_INIT_RESULT",
)


@dataclass
class InitRun:
    returncode: int
    stdout: str
    stderr: str
    stages: List[Dict[str, Any]]

    def stage(self, name: str) -> Dict[str, Any]:
        found = [s for s in self.stages if s["stage"] == name]
        assert len(found) == 1, (name, self.stages)
        return found[0]


def parse_stages(stdout: str) -> List[Dict[str, Any]]:
    return [json.loads(line[len(PREFIX):]) for line in stdout.splitlines() if line.startswith(PREFIX)]


def base_env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AIOS_VARS}
    env["PYTHONPATH"] = str(PACKAGE_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONUNBUFFERED", None)  # stdout is a block-buffered pipe: the SDK must flush on its own
    env.update(extra or {})
    return env


def run_program(program: Path, env: Mapping[str, str], timeout: float = 60) -> InitRun:
    proc = subprocess.run(
        [sys.executable, str(program)],
        env=base_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(program.parent),
    )
    return InitRun(proc.returncode, proc.stdout, proc.stderr, parse_stages(proc.stdout))


SAMPLE_BLOCK: Dict[str, Any] = {
    "blockId": "blk-1",
    "componentURI": "llm.server:1.0-stable",
    "blockInitData": {"model": "tiny"},
    "initSettings": {"startTimeoutSeconds": 20},
    "parameters": {"temperature": 0.2},
    "allocation": {"clusterId": "cluster-a", "nodeId": "node-1", "gpus": [0, 1]},
    "cluster": {"id": "cluster-a", "nodes": [{"id": "node-1"}]},
}
