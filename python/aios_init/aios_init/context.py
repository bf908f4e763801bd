"""The init container's view of its block, built from the environment the platform sets."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

MODE_CREATE = "create"
MODE_REMOVE = "remove"
MODES = (MODE_CREATE, MODE_REMOVE)

ENV_MODE = "AIOS_INIT_MODE"
ENV_BLOCK_ID = "AIOS_BLOCK_ID"
ENV_CLUSTER_ID = "AIOS_CLUSTER_ID"
ENV_BLOCK_FILE = "AIOS_BLOCK_FILE"
ENV_STATE_DIR = "AIOS_INIT_STATE_DIR"
ENV_RESULT = "AIOS_INIT_RESULT"


class InitConfigError(Exception):
    """The environment the platform set is unusable (bad mode, unreadable block file, malformed result)."""


def _dict_at(data: Mapping[str, Any], key: str) -> Dict[str, Any]:
    value = data.get(key)
    return dict(value) if isinstance(value, dict) else {}


@dataclass
class InitContext:
    """Everything the init container knows about the block it deploys (``create``) or tears down (``remove``)."""

    mode: str
    block_id: str = ""
    cluster_id: str = ""
    block_data: Dict[str, Any] = field(default_factory=dict)
    allocation: Dict[str, Any] = field(default_factory=dict)
    cluster: Dict[str, Any] = field(default_factory=dict)
    block_init_data: Dict[str, Any] = field(default_factory=dict)
    state_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aios-init-")))
    create_result: Optional[Dict[str, Any]] = None
    init_settings: Dict[str, Any] = field(default_factory=dict)
    parameters: Dict[str, Any] = field(default_factory=dict)

    @property
    def is_create(self) -> bool:
        return self.mode == MODE_CREATE

    @property
    def is_remove(self) -> bool:
        return self.mode == MODE_REMOVE

    def log(self, msg: object) -> None:
        """Print a line to stderr (the platform keeps it in the init container's log)."""
        print(f"[aios-init {self.mode} {self.block_id}] {msg}", file=sys.stderr, flush=True)

    def aios_envs(self) -> Dict[str, Any]:
        """The ``envs`` dict handed to AIOS-style five-argument constructors."""
        return {
            "block_id": self.block_id,
            "cluster_id": self.cluster_id,
            "operating_mode": self.mode,
            "allocation": self.allocation,
        }

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "InitContext":
        """Build the context from ``environ`` (default ``os.environ``).

        Missing variables are tolerated (mode defaults to ``create``, ids to the block file's or ``""``, the
        state directory to a fresh temporary one). Variables that are set but unusable raise
        :class:`InitConfigError`: an unknown mode, a block file that cannot be read or is not a JSON object,
        an ``AIOS_INIT_RESULT`` that is not valid JSON.
        """
        env = os.environ if environ is None else environ

        raw_mode = env.get(ENV_MODE, "").strip().lower()
        mode = raw_mode or MODE_CREATE
        if mode not in MODES:
            raise InitConfigError(f"{ENV_MODE}={env.get(ENV_MODE)!r}: expected 'create' or 'remove'")

        block_data: Dict[str, Any] = {}
        block_file = env.get(ENV_BLOCK_FILE, "")
        if block_file:
            try:
                with open(block_file, "r", encoding="utf-8") as f:
                    loaded = json.load(f)
            except (OSError, ValueError) as e:
                raise InitConfigError(f"{ENV_BLOCK_FILE}={block_file!r}: {type(e).__name__}: {e}") from e
            if not isinstance(loaded, dict):
                raise InitConfigError(
                    f"{ENV_BLOCK_FILE}={block_file!r}: expected a JSON object, got {type(loaded).__name__}"
                )
            block_data = loaded

        allocation = _dict_at(block_data, "allocation")
        cluster = _dict_at(block_data, "cluster")

        block_id = env.get(ENV_BLOCK_ID, "") or str(block_data.get("blockId") or "")
        cluster_id = (
            env.get(ENV_CLUSTER_ID, "")
            or str(allocation.get("clusterId") or "")
            or str(cluster.get("id") or cluster.get("clusterId") or "")
        )

        create_result: Optional[Dict[str, Any]] = None
        raw_result = env.get(ENV_RESULT, "")
        if raw_result.strip():
            try:
                parsed = json.loads(raw_result)
            except ValueError as e:
                raise InitConfigError(f"{ENV_RESULT}: not valid JSON: {e}") from e
            if isinstance(parsed, dict):
                create_result = parsed
            elif parsed is not None:
                print(
                    f"[aios-init] {ENV_RESULT} is a JSON {type(parsed).__name__}, not an object; "
                    "create_result is None",
                    file=sys.stderr,
                    flush=True,
                )

        state_dir_env = env.get(ENV_STATE_DIR, "")
        if state_dir_env:
            state_dir = Path(state_dir_env)
            try:
                state_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise InitConfigError(f"{ENV_STATE_DIR}={state_dir_env!r}: {type(e).__name__}: {e}") from e
        else:
            state_dir = Path(tempfile.mkdtemp(prefix="aios-init-"))
            print(
                f"[aios-init] {ENV_STATE_DIR} not set; using {state_dir} (not kept for the remove run)",
                file=sys.stderr,
                flush=True,
            )

        return cls(
            mode=mode,
            block_id=block_id,
            cluster_id=cluster_id,
            block_data=block_data,
            allocation=allocation,
            cluster=cluster,
            block_init_data=_dict_at(block_data, "blockInitData"),
            state_dir=state_dir,
            create_result=create_result,
            init_settings=_dict_at(block_data, "initSettings"),
            parameters=_dict_at(block_data, "parameters"),
        )
