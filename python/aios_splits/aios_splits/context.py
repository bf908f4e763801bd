"""The splitter's view of its split task, built from the environment the platform sets, and its outputs:
progress lines, artifacts and the plan."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

ENV_TASK_ID = "TASK_ID"
ENV_TASK_DATA = "TASK_DATA"
ENV_OUTPUT_DIR = "AIOS_SPLIT_OUTPUT_DIR"

PROGRESS_PREFIX = "AIOS_SPLIT_PROGRESS "
PLAN_FILE = "plan.json"
MAX_ARTIFACT_NAME = 255
_CHUNK = 1 << 20
_FILE_MODE = 0o644  # mkstemp's files are 0600; artifacts and the plan are ordinary readable files


class SplitConfigError(Exception):
    """The environment the platform set is unusable (missing task id, TASK_DATA not a JSON object, no output
    directory)."""


class SplitArtifactError(ValueError):
    """An artifact name or source is unusable (not a plain file name, ``plan.json``, a missing or empty file)."""


def _flush_then_write(line: str) -> None:
    """Flush the user's output, then print ``line`` on a line of its own (a newline first) and flush."""
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    sys.stdout.flush()
    sys.stdout.write("\n" + line + "\n")
    sys.stdout.flush()


def progress_line(fraction: float, message: str) -> str:
    """The exact line (without the newline) reported for a progress update; ``fraction`` clamped to [0, 1]."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"progress fraction must be a number, got {type(fraction).__name__}")
    value = float(fraction)
    if math.isnan(value):
        value = 0.0
    value = min(1.0, max(0.0, value))
    record = {"progress": value, "message": str(message)}
    return PROGRESS_PREFIX + json.dumps(record, ensure_ascii=True, allow_nan=False)


def check_artifact_name(name: Any) -> str:
    """``name`` if it is a plain file name for the output directory; :class:`SplitArtifactError` otherwise."""
    if not isinstance(name, str) or not name:
        raise SplitArtifactError(f"artifact name must be a non-empty string, got {name!r}")
    if "/" in name or "\\" in name or "\0" in name:
        raise SplitArtifactError(f"artifact name {name!r} must be a plain file name (no '/', '\\' or NUL)")
    if ".." in name or name == ".":
        raise SplitArtifactError(f"artifact name {name!r} must not contain '..' or be '.'")
    if name == PLAN_FILE:
        raise SplitArtifactError(f"artifact name {name!r} is reserved for the plan (context.emit_plan)")
    if len(name.encode("utf-8")) > MAX_ARTIFACT_NAME:
        raise SplitArtifactError(f"artifact name is longer than {MAX_ARTIFACT_NAME} bytes: {name[:40]!r}...")
    return name


def file_digest(path: Union[str, os.PathLike]) -> "tuple[str, int]":
    """``(sha256 hex, size in bytes)`` of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


@dataclass(frozen=True)
class ArtifactRef:
    """One artifact the splitter wrote: its file name in the output directory, sha256 (hex) and size."""

    file: str
    sha256: str
    size: int

    def to_json(self) -> Dict[str, Any]:
        return {"file": self.file, "sha256": self.sha256, "size": self.size}


@dataclass
class SplitContext:
    """Everything a splitter knows about its task, plus the calls that produce its outputs."""

    task_id: str
    task_data: Dict[str, Any]
    output_dir: Path
    #: The artifacts written or added so far, by name.
    artifacts: Dict[str, ArtifactRef] = field(default_factory=dict)
    #: Where :meth:`emit_plan` wrote the plan, once it did.
    plan_path: Optional[Path] = None

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "SplitContext":
        """Build the context from ``environ`` (default ``os.environ``).

        ``TASK_ID`` must be set and non-empty, ``AIOS_SPLIT_OUTPUT_DIR`` must name an existing directory, and
        ``TASK_DATA``, if set, must be a JSON object (unset or blank: ``{}``). Anything else raises
        :class:`SplitConfigError` naming the variable.
        """
        env = os.environ if environ is None else environ
        task_id = env.get(ENV_TASK_ID, "").strip()
        if not task_id:
            raise SplitConfigError(f"{ENV_TASK_ID} is not set (the platform sets it to the split task's id)")
        raw = env.get(ENV_TASK_DATA, "")
        task_data: Dict[str, Any] = {}
        if raw.strip():
            try:
                parsed = json.loads(raw)
            except ValueError as e:
                raise SplitConfigError(f"{ENV_TASK_DATA} is not valid JSON: {e}") from e
            if not isinstance(parsed, dict):
                raise SplitConfigError(f"{ENV_TASK_DATA} must be a JSON object, got a JSON {type(parsed).__name__}")
            task_data = parsed
        out = env.get(ENV_OUTPUT_DIR, "")
        if not out:
            raise SplitConfigError(f"{ENV_OUTPUT_DIR} is not set (the directory for the artifacts and plan.json)")
        output_dir = Path(out)
        if not output_dir.is_dir():
            raise SplitConfigError(f"{ENV_OUTPUT_DIR}={out!r} is not an existing directory")
        return cls(task_id=task_id, task_data=task_data, output_dir=output_dir.resolve())

    # -- reporting

    def log(self, msg: object) -> None:
        """Print a line to stderr (kept in the task's log)."""
        print(f"[aios-splits {self.task_id}] {msg}", file=sys.stderr, flush=True)

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress: ``AIOS_SPLIT_PROGRESS {"progress": f, "message": m}`` on a line of its own,
        ``fraction`` clamped to [0, 1]."""
        _flush_then_write(progress_line(fraction, message))

    # -- artifacts

    def artifact_path(self, name: str) -> Path:
        """Where to write the artifact ``name`` yourself; call :meth:`add_artifact` once it is complete."""
        return self.output_dir / check_artifact_name(name)

    def add_artifact(self, name: str) -> ArtifactRef:
        """Register the file ``artifact_path(name)`` (written by the caller): hashes it and returns its ref."""
        path = self.artifact_path(name)
        if not path.is_file():
            raise SplitArtifactError(f"artifact {name!r}: {path} does not exist (write it before add_artifact)")
        sha, size = file_digest(path)
        if size < 1:
            raise SplitArtifactError(f"artifact {name!r} is empty")
        ref = ArtifactRef(file=name, sha256=sha, size=size)
        self.artifacts[name] = ref
        return ref

    def write_artifact(self, name: str, source: Union[bytes, bytearray, memoryview, str, os.PathLike]) -> ArtifactRef:
        """Write ``source`` (bytes, or the path of an existing file, which is copied) as the artifact ``name``."""
        target = self.artifact_path(name)
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if not data:
                raise SplitArtifactError(f"artifact {name!r} is empty")
            tmp = self._temp_path(name)
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, target)
            finally:
                if tmp.exists():
                    tmp.unlink()
        elif isinstance(source, (str, os.PathLike)):
            src = Path(source)
            if not src.is_file():
                raise SplitArtifactError(f"artifact {name!r}: source {str(src)!r} is not an existing file")
            if src.resolve() != target.resolve():
                tmp = self._temp_path(name)
                try:
                    shutil.copyfile(src, tmp)
                    os.replace(tmp, target)
                finally:
                    if tmp.exists():
                        tmp.unlink()
        else:
            raise SplitArtifactError(
                f"artifact {name!r}: source must be bytes or the path of a file, got {type(source).__name__}")
        return self.add_artifact(name)

    def _temp_path(self, name: str) -> Path:
        fd, tmp = tempfile.mkstemp(prefix=f".{name[:40]}.", suffix=".tmp", dir=str(self.output_dir))
        os.close(fd)
        os.chmod(tmp, _FILE_MODE)
        return Path(tmp)

    # -- the plan

    def check_plan_artifacts(self, plan: Mapping[str, Any]) -> List[str]:
        """Problems with the plan's ``artifact.file`` entries: a file missing from the output directory, or
        whose size or sha256 differs from the plan's (files registered here are compared with their ref,
        others are hashed)."""
        problems: List[str] = []
        splits = plan.get("splits")
        if not isinstance(splits, list):
            return problems
        for i, split in enumerate(splits):
            art = split.get("artifact") if isinstance(split, dict) else None
            if not isinstance(art, dict) or not isinstance(art.get("file"), str):
                continue
            name = art["file"]
            where = f"splits[{i}].artifact.file"
            try:
                path = self.artifact_path(name)
            except SplitArtifactError as e:
                problems.append(f"{where}: {e}")
                continue
            if not path.is_file():
                problems.append(f"{where}: {name!r} is not in the output directory {self.output_dir}")
                continue
            ref = self.artifacts.get(name)
            if ref is None or path.stat().st_size != ref.size:
                sha, size = file_digest(path)
            else:
                sha, size = ref.sha256, ref.size
            if art.get("size") != size:
                problems.append(f"splits[{i}].artifact.size: {art.get('size')!r}, but {name!r} has {size} bytes")
            if art.get("sha256") != sha:
                problems.append(f"splits[{i}].artifact.sha256: {art.get('sha256')!r}, but {name!r} hashes to {sha}")
        return problems

    def emit_plan(self, plan: Mapping[str, Any]) -> Path:
        """Validate ``plan`` (see :func:`aios_splits.plan.validate_plan`, plus the artifact files themselves) and
        write it to ``$AIOS_SPLIT_OUTPUT_DIR/plan.json`` atomically. Raises :class:`aios_splits.plan.PlanError`
        listing every problem."""
        from .plan import PlanError, validate_plan

        problems = validate_plan(plan) + self.check_plan_artifacts(plan)
        if problems:
            raise PlanError(problems)
        text = json.dumps(plan, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        target = self.output_dir / PLAN_FILE
        fd, tmp = tempfile.mkstemp(prefix=".plan.", suffix=".tmp", dir=str(self.output_dir))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _FILE_MODE)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.plan_path = target
        self.log(f"wrote {target} ({len(plan.get('splits') or [])} splits)")
        return target

    @property
    def plan_emitted(self) -> bool:
        return self.plan_path is not None and self.plan_path.is_file()


__all__ = [
    "ArtifactRef",
    "ENV_OUTPUT_DIR",
    "ENV_TASK_DATA",
    "ENV_TASK_ID",
    "PLAN_FILE",
    "PROGRESS_PREFIX",
    "SplitArtifactError",
    "SplitConfigError",
    "SplitContext",
    "check_artifact_name",
    "file_digest",
    "progress_line",
]
