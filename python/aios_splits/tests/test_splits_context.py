"""SplitContext in-process: the environment, progress lines, artifacts and emit_plan."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from aios_splits import (
    ArtifactRef,
    PlanError,
    SplitArtifactError,
    SplitConfigError,
    SplitContext,
    build_plan,
    progress_line,
    run_model_splitter,
)


@pytest.fixture
def splits_ctx(splits_env) -> SplitContext:
    return SplitContext.from_env(splits_env({"model": "/m.gguf", "splits": 2}))


def test_from_env(splits_env) -> None:
    env = splits_env({"model": "/m.gguf", "splits": 2}, task_id="split-xyz")
    ctx = SplitContext.from_env(env)
    assert ctx.task_id == "split-xyz"
    assert ctx.task_data == {"model": "/m.gguf", "splits": 2}
    assert ctx.output_dir == Path(env["AIOS_SPLIT_OUTPUT_DIR"]).resolve()
    env["TASK_DATA"] = "  "
    assert SplitContext.from_env(env).task_data == {}
    env["TASK_DATA"] = '"a string"'
    with pytest.raises(SplitConfigError, match="must be a JSON object, got a JSON str"):
        SplitContext.from_env(env)
    env["TASK_DATA"] = "{}"
    del env["AIOS_SPLIT_OUTPUT_DIR"]
    with pytest.raises(SplitConfigError, match="AIOS_SPLIT_OUTPUT_DIR is not set"):
        SplitContext.from_env(env)


def test_progress_line_clamps_and_is_one_line(splits_ctx: SplitContext, capsys: pytest.CaptureFixture) -> None:
    assert progress_line(0.25, "a") == 'AIOS_SPLIT_PROGRESS {"progress": 0.25, "message": "a"}'
    assert json.loads(progress_line(1.5, "x")[20:])["progress"] == 1.0
    assert json.loads(progress_line(-3, "x")[20:])["progress"] == 0.0
    assert json.loads(progress_line(math.nan, "x")[20:])["progress"] == 0.0
    assert json.loads(progress_line(math.inf, "x")[20:])["progress"] == 1.0
    with pytest.raises(TypeError):
        progress_line("half", "x")  # type: ignore[arg-type]
    print("no newline", end="")
    splits_ctx.progress(0.5, "two\nlines é")
    out = capsys.readouterr().out
    assert out == 'no newline\nAIOS_SPLIT_PROGRESS {"progress": 0.5, "message": "two\\nlines \\u00e9"}\n'


def test_artifacts_three_ways(splits_ctx: SplitContext, tmp_path: Path) -> None:
    a = splits_ctx.write_artifact("a.bin", b"alpha")
    assert a == ArtifactRef("a.bin", hashlib.sha256(b"alpha").hexdigest(), 5)
    assert a.to_json() == {"file": "a.bin", "sha256": hashlib.sha256(b"alpha").hexdigest(), "size": 5}
    src = tmp_path / "src.gguf"
    src.write_bytes(b"beta" * 1000)
    b = splits_ctx.write_artifact("b.gguf", src)
    assert (b.size, b.sha256) == (4000, hashlib.sha256(b"beta" * 1000).hexdigest())
    assert src.exists()  # copied, not moved
    splits_ctx.artifact_path("c.bin").write_bytes(b"gamma")
    c = splits_ctx.add_artifact("c.bin")
    assert c.sha256 == hashlib.sha256(b"gamma").hexdigest()
    assert set(splits_ctx.artifacts) == {"a.bin", "b.gguf", "c.bin"}
    assert sorted(p.name for p in splits_ctx.output_dir.iterdir()) == ["a.bin", "b.gguf", "c.bin"]  # no temp files


@pytest.mark.parametrize("name, message", [
    ("a/b.bin", "must be a plain file name"),
    ("..", "must not contain '..'"),
    ("x..y", "must not contain '..'"),
    (".", "must not contain '..' or be '.'"),
    ("plan.json", "reserved for the plan"),
    ("", "non-empty string"),
    ("back\\slash", "must be a plain file name"),
    ("n" * 256, "longer than 255 bytes"),
])
def test_bad_artifact_names_are_refused(splits_ctx: SplitContext, name: str, message: str) -> None:
    for call in (lambda: splits_ctx.write_artifact(name, b"x"), lambda: splits_ctx.artifact_path(name),
                 lambda: splits_ctx.add_artifact(name)):
        with pytest.raises(SplitArtifactError, match=message.replace(".", r"\.").replace("(", r"\(")):
            call()
    assert list(splits_ctx.output_dir.iterdir()) == []


def test_bad_artifact_sources_are_refused(splits_ctx: SplitContext, tmp_path: Path) -> None:
    with pytest.raises(SplitArtifactError, match="is not an existing file"):
        splits_ctx.write_artifact("a.bin", tmp_path / "missing")
    with pytest.raises(SplitArtifactError, match="is empty"):
        splits_ctx.write_artifact("a.bin", b"")
    with pytest.raises(SplitArtifactError, match="does not exist"):
        splits_ctx.add_artifact("never-written.bin")
    splits_ctx.artifact_path("empty.bin").write_bytes(b"")
    with pytest.raises(SplitArtifactError, match="is empty"):
        splits_ctx.add_artifact("empty.bin")
    with pytest.raises(SplitArtifactError, match="source must be bytes or the path"):
        splits_ctx.write_artifact("a.bin", 42)  # type: ignore[arg-type]


def _plan(ctx: SplitContext, refs) -> dict:
    return build_plan(model={"name": "m", "architecture": "llama", "layers": 2, "dtype": "F32"},
                      splitter={"name": "t"}, base_name="m", task_id=ctx.task_id,
                      splits=[{"splitId": f"split-{i}", "layers": [i, i + 1], "artifact": r, "memoryMB": 5}
                              for i, r in enumerate(refs)])


def test_emit_plan_writes_a_valid_plan_atomically(splits_ctx: SplitContext) -> None:
    refs = [splits_ctx.write_artifact(f"s{i}.bin", bytes([i + 1]) * 10) for i in range(2)]
    plan = _plan(splits_ctx, refs)
    path = splits_ctx.emit_plan(plan)
    assert path == splits_ctx.output_dir / "plan.json" and splits_ctx.plan_emitted
    assert path.stat().st_mode & 0o777 == 0o644
    assert json.loads(path.read_text()) == plan
    assert sorted(p.name for p in splits_ctx.output_dir.iterdir()) == ["plan.json", "s0.bin", "s1.bin"]


def test_emit_plan_refuses_an_invalid_plan_and_mismatched_artifacts(splits_ctx: SplitContext) -> None:
    refs = [splits_ctx.write_artifact(f"s{i}.bin", bytes([i + 1]) * 10) for i in range(2)]
    plan = _plan(splits_ctx, refs)
    plan["splits"][1]["layers"] = [0, 2]
    plan["splits"][0]["artifact"]["size"] = 11
    plan["splits"][1]["artifact"]["file"] = "gone.bin"
    with pytest.raises(PlanError) as info:
        splits_ctx.emit_plan(plan)
    assert info.value.problems == [
        "splits[1].layers: starts at 0 but the layers up to 0 are already in a split before it (an overlap)",
        "splits[0].artifact.size: 11, but 's0.bin' has 10 bytes",
        f"splits[1].artifact.file: 'gone.bin' is not in the output directory {splits_ctx.output_dir}",
    ]
    assert not (splits_ctx.output_dir / "plan.json").exists() and not splits_ctx.plan_emitted


def test_run_model_splitter_in_process(splits_ctx: SplitContext, capsys: pytest.CaptureFixture) -> None:
    calls = []

    class Splitter:
        def __init__(self, context):
            self.context = context

        def begin(self):
            calls.append("begin")
            return True, "b"

        def main(self, extra):
            calls.append(("main", extra))
            return True, [self.context.write_artifact(f"x{i}.bin", b"x%d" % i) for i in range(2)]

        def finish(self, refs):
            calls.append("finish")
            self.context.emit_plan(_plan(self.context, refs))  # emitted here: the returned value is not re-emitted
            return True, "done"

    assert run_model_splitter(Splitter, splits_ctx) == 0
    assert calls == ["begin", ("main", "b"), "finish"]
    out = capsys.readouterr().out
    assert out.count("AIOS_SPLIT_STAGE") == 3 and '"ok": false' not in out

    class NoArgs:
        def begin(self):
            return True, None

        def main(self, extra):
            return False, None

        def finish(self, extra):
            raise AssertionError("not reached")

    assert run_model_splitter(NoArgs, splits_ctx) == 1
    assert 'AIOS_SPLIT_STAGE {"stage": "main", "ok": false, "message": "main() returned ok=False"}' in \
        capsys.readouterr().out

    class TwoArgs:
        def __init__(self, a, b):
            pass

    assert run_model_splitter(TwoArgs, splits_ctx) == 1
    assert "takes 2 positional parameters besides self; expected 1 (context)" in capsys.readouterr().out
