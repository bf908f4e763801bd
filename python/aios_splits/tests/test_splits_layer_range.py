"""The built-in layer-range splitter on the SmolLM2 GGUF: a real ``python -m aios_splits.layer_range`` run."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
from splits_helpers import SplitRun, run_argv

from aios_splits import validate_plan

LAYERS = 30
KV_PER_LAYER = 2 * 3 * 64 * 8192 * 4 * 4  # 2 (K, V) x 3 KV heads x 64 dims x 8192 positions x float32 x 4 sessions


@pytest.fixture(scope="module")
def splits_smollm2_run(splits_gguf_path: str, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    out = tmp_path_factory.mktemp("layer-range") / "out"
    out.mkdir()
    env = {"TASK_ID": "split-q1w2e3r4t5y6", "AIOS_SPLIT_OUTPUT_DIR": str(out),
           "TASK_DATA": json.dumps({"model": splits_gguf_path, "splits": 3, "strategy": "even",
                                    "splitter": "layer-range", "timeout_s": 1800})}
    run = run_argv([sys.executable, "-m", "aios_splits.layer_range"], env)
    return {"run": run, "out": out}


@pytest.fixture(scope="module")
def splits_smollm2_reader(splits_gguf_path: str) -> Any:
    from aios_splits.layer_range import open_reader

    return open_reader(splits_gguf_path)


def test_layer_range_run_succeeds_with_a_valid_plan(splits_smollm2_run: Dict[str, Any], splits_gguf_path: str) -> None:
    run: SplitRun = splits_smollm2_run["run"]
    assert run.returncode == 0, run.stdout + run.stderr
    assert [(s["stage"], s["ok"]) for s in run.stages] == [("begin", True), ("main", True), ("finish", True)]
    fractions = [p["progress"] for p in run.progress]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert [p["message"] for p in run.progress if p["message"].startswith("wrote")] == [
        "wrote split-0 (layers 0-10)", "wrote split-1 (layers 10-20)", "wrote split-2 (layers 20-30)"]

    out: Path = splits_smollm2_run["out"]
    plan = json.loads((out / "plan.json").read_text())
    assert validate_plan(plan) == []
    model_bytes = Path(splits_gguf_path).read_bytes()
    assert plan["model"] == {"name": "SmolLM2-135M-Instruct", "architecture": "llama", "layers": 30,
                             "dtype": "Q4_1", "source": str(Path(splits_gguf_path).resolve()),
                             "sha256": hashlib.sha256(model_bytes).hexdigest(), "size": len(model_bytes)}
    assert plan["splitter"] == {"name": "layer-range", "strategy": "even"}
    assert [s["layers"] for s in plan["splits"]] == [[0, 10], [10, 20], [20, 30]]
    for i, split in enumerate(plan["splits"]):
        data = (out / f"split-{i}.gguf").read_bytes()
        assert split["artifact"] == {"file": f"split-{i}.gguf", "sha256": hashlib.sha256(data).hexdigest(),
                                     "size": len(data)}
        values = split["block"]["body"]["spec"]["values"]
        assert values["blockId"] == f"smollm2-135m-instruct-q1w2e3r4-s{i}"
    assert plan["vdag"]["body"]["spec"]["values"]["vdagName"] == "smollm2-135m-instruct-q1w2e3r4"
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "split-0.gguf", "split-1.gguf", "split-2.gguf"]


def test_memory_estimate_follows_the_formula(splits_smollm2_run: Dict[str, Any], splits_smollm2_reader: Any) -> None:
    plan = json.loads((splits_smollm2_run["out"] / "plan.json").read_text())
    elements = {t.name: int(t.n_elements) for t in splits_smollm2_reader.tensors}
    for split in plan["splits"]:
        s, e = split["layers"]
        names = [n for n in elements if n.startswith("blk.") and s <= int(n.split(".")[1]) < e]
        if s == 0:
            names.append("token_embd.weight")
        if e == LAYERS:
            names += ["output_norm.weight", "token_embd.weight"]  # tied: the head is the embeddings
        weights = sum(elements[n] for n in names) * 4
        expected = math.ceil((weights + KV_PER_LAYER * (e - s)) / 2 ** 20 + 64)
        assert split["memoryMB"] == expected
        params = split["block"]["body"]["spec"]["values"]["policyRulesSpec"][0]["values"]["parameters"]
        assert params == {"gpus": 0, "cpus": 0.5, "memory": expected}
    assert [s["memoryMB"] for s in plan["splits"]] == [788, 680, 788]


def test_each_artifact_is_a_gguf_subset_with_exactly_its_tensors(splits_smollm2_run: Dict[str, Any],
                                                                   splits_smollm2_reader: Any) -> None:
    from aios_splits.layer_range import open_reader

    full = splits_smollm2_reader
    full_tensors = {t.name: t for t in full.tensors}
    full_fields = {k: f for k, f in full.fields.items() if not k.startswith("GGUF.")}
    for i, (s, e) in enumerate([(0, 10), (10, 20), (20, 30)]):
        sub = open_reader(splits_smollm2_run["out"] / f"split-{i}.gguf")
        expected = {n for n in full_tensors if n.startswith("blk.") and s <= int(n.split(".")[1]) < e}
        if s == 0:
            expected.add("token_embd.weight")
        if e == LAYERS:
            expected |= {"output_norm.weight", "token_embd.weight"}
        names = [t.name for t in sub.tensors]
        assert len(names) == len(set(names)) and set(names) == expected
        for t in sub.tensors:  # same type, shape and bytes: copied raw
            ref = full_tensors[t.name]
            assert t.tensor_type == ref.tensor_type and list(t.shape) == list(ref.shape)
            if t.name.endswith(("attn_q.weight", "norm.weight")) or t.name == "token_embd.weight":
                assert t.data.tobytes() == ref.data.tobytes()
        sub_fields = {k: f for k, f in sub.fields.items() if not k.startswith("GGUF.")}
        assert list(sub_fields) == list(full_fields)  # every key, in order (tokenizer included)
        for key, field in full_fields.items():
            assert sub_fields[key].types == field.types, key
            if key not in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"):
                assert sub_fields[key].contents() == field.contents(), key
            else:
                assert len(sub_fields[key].data) == len(field.data)
        assert sub.fields["tokenizer.ggml.tokens"].contents()[:300] == full.fields["tokenizer.ggml.tokens"].contents()[:300]
        assert sub.fields["GGUF.tensor_count"].contents() == len(expected)


def test_infeasible_balanced_request_fails_with_the_report(splits_gguf_path: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    nodes = [{"clusterId": "c", "nodeId": "n1", "freeMemoryMB": 600}, {"clusterId": "c", "nodeId": "n2",
                                                                          "freeMemoryMB": 500}]
    env = {"TASK_ID": "split-infeasible00", "AIOS_SPLIT_OUTPUT_DIR": str(out),
           "TASK_DATA": json.dumps({"model": splits_gguf_path, "strategy": "balanced", "target_nodes": nodes})}
    run = run_argv([sys.executable, "-m", "aios_splits.layer_range"], env)
    assert run.returncode == 1
    msg = run.stage("begin")["message"]
    assert msg.startswith("aios_splits.layer_range.SplitterInputError: balanced: no assignment of the 30 layers to 2 "
                          "splits fits the target nodes: the model needs 2082 MB in all")
    assert "free memory: c/n1 600 MB, c/n2 500 MB" in msg
    assert "the largest split that could not be placed: split-1 (the rest, layers [" in msg
    assert list(out.iterdir()) == []


def test_bad_task_data_fails_begin(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    env = {"TASK_ID": "split-bad", "AIOS_SPLIT_OUTPUT_DIR": str(out), "TASK_DATA": json.dumps({"splits": 2})}
    run = run_argv([sys.executable, "-m", "aios_splits.layer_range"], env)
    assert run.returncode == 1
    assert run.stage("begin")["message"].startswith("aios_splits.layer_range.SplitterInputError: TASK_DATA.model is "
                                                    "required")
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"not a gguf file at all")
    env["TASK_DATA"] = json.dumps({"model": str(not_gguf), "splits": 2})
    run = run_argv([sys.executable, "-m", "aios_splits.layer_range"], env)
    assert run.returncode == 1
    assert f"{not_gguf}: not a readable GGUF file" in run.stage("begin")["message"]
