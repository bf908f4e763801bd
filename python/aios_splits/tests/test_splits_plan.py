"""build_plan and validate_plan: 1, 2 and 3 splits, the example specs' shapes, names, and invalid plans."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List

import pytest
from splits_helpers import REPO, fake_model

from aios_splits import ArtifactRef, PlannedSplit, build_plan, plan_names, validate_plan
from aios_splits.plan import short_task_id

EXAMPLE = REPO / "examples" / "llm-split"
TASK = "split-abcdefghijkl"


def _ref(i: int) -> ArtifactRef:
    return ArtifactRef(f"split-{i}.gguf", f"{i:x}" * 64, 1000 + i)


def _plan(n: int, layers: int = 30, **kw: Any) -> Dict[str, Any]:
    bounds = [round(i * layers / n) for i in range(n + 1)]
    splits = [PlannedSplit(f"split-{i}", (bounds[i], bounds[i + 1]), _ref(i), 300 + i) for i in range(n)]
    kw.setdefault("base_name", "SmolLM2 135M")
    return build_plan(model=fake_model(layers), splitter={"name": "layer-range", "strategy": "even"}, splits=splits,
                      task_id=TASK, **kw)


def _values(doc: Dict[str, Any]) -> Dict[str, Any]:
    return doc["body"]["spec"]["values"]


def _load(name: str) -> Dict[str, Any]:
    return json.loads((EXAMPLE / name).read_text())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_built_plans_are_valid(n: int) -> None:
    plan = _plan(n)
    assert validate_plan(plan) == []
    assert plan["planVersion"] == 1 and plan["model"] == fake_model(30)
    assert plan["splitter"] == {"name": "layer-range", "strategy": "even"}
    assert [s["splitId"] for s in plan["splits"]] == [f"split-{i}" for i in range(n)]
    assert plan["splits"][0]["layers"][0] == 0 and plan["splits"][-1]["layers"][1] == 30
    ids = [_values(s["block"])["blockId"] for s in plan["splits"]]
    assert ids == [f"smollm2-135m-abcdefgh-s{i}" for i in range(n)]
    v = _values(plan["vdag"])
    assert v["vdagName"] == "smollm2-135m-abcdefgh"
    assert v["vdagVersion"] == {"version": "0.0.1", "release-tag": "stable"}
    assert v["controller"]["initSettings"] == {"maxOutputWaitTimeSeconds": 120}
    assert [(nd["spec"]["values"]["nodeLabel"], nd["spec"]["values"]["manualBlockId"]) for nd in v["nodes"]] == \
        list(zip([f"split-{i}" for i in range(n)], ids))
    assert v["graph"]["input"][0]["nodeLabel"] == "split-0"
    assert v["graph"]["output"][0]["nodeLabel"] == f"split-{n - 1}"
    assert [c["nodeLabel"] for c in v["graph"]["connections"]] == [f"split-{i}" for i in range(1, n)]


def test_three_split_vdag_is_the_example_vdag_with_our_labels() -> None:
    plan = _plan(3)
    ours = plan["vdag"]
    example = _load("vdag.json")
    text = json.dumps(example)
    for i, label in enumerate(["layers-0-10", "layers-10-20", "layers-20-30"]):
        text = text.replace(f'"{label}"', f'"split-{i}"').replace(f'"smollm2-split-{i}"',
                                                                  f'"smollm2-135m-abcdefgh-s{i}"')
    expected = json.loads(text)
    ev, ov = _values(expected), _values(ours)
    assert ours["header"] == expected["header"]
    assert ov["nodes"] == ev["nodes"]
    assert ov["graph"] == ev["graph"]
    assert ov["controller"]["inputSources"] == [] and ov["controller"]["initParameters"] == {}
    assert set(ov) == set(ev)


def test_one_split_is_a_single_input_and_output_node() -> None:
    v = _values(_plan(1)["vdag"])
    (node,) = v["nodes"]
    assert "inputProtocol" not in node["spec"]["values"]
    assert node["IOMap"] == [{"inputs": v["graph"]["input"][0]["inputNames"],
                              "outputs": ["token", "text", "eos", "position", "top"]}]
    assert set(node["spec"]["values"]["outputProtocol"]) == {"token", "text", "eos", "position", "top"}
    assert v["graph"]["connections"] == []


def test_block_spec_is_the_example_shape() -> None:
    plan = _plan(3)
    example = _load("blocks/split-0.json")
    ours = plan["splits"][0]["block"]
    assert set(ours) == set(example) and ours["head"] == example["head"]
    ev, ov = _values(example), _values(ours)
    assert set(ov) == set(ev)
    assert ov["blockComponentURI"] == ev["blockComponentURI"] == "model.smollm2-split:0.1.0-stable"
    assert (ov["minInstances"], ov["maxInstances"], ov["initSettings"], ov["parameters"]) == (1, 1, {}, {})
    assert ov["blockInitData"] == {"max_sessions": 64, "session_idle_s": 600}  # the platform adds layers, artifact
    (rule,) = ov["policyRulesSpec"]
    assert rule == {"values": {"name": "resourceAllocator",
                               "policyRuleURI": "policy.resourceAllocator.cpu-node-selector:v0.0.1",
                               "parameters": {"gpus": 0, "cpus": 0.5, "memory": 300}, "settings": {}}}


def test_gpus_per_split_and_cluster_pin() -> None:
    plan = _plan(3, gpus=[0, 1, 2], cluster_id="c-1", runner="model.other:1.0.0-stable")
    assert validate_plan(plan) == []
    for i, split in enumerate(plan["splits"]):
        values = _values(split["block"])
        assert values["blockComponentURI"] == "model.other:1.0.0-stable"
        pin, alloc = values["policyRulesSpec"]
        assert pin["values"] == {"name": "clusterAllocator", "policyRuleURI": "policy.clusterAllocator.pin:v0.0.1",
                                 "parameters": {"filter": {"clusterQuery": {"variable": "id", "operator": "==",
                                                                            "value": "c-1"}}}, "settings": {}}
        params = alloc["values"]["parameters"]
        if i == 0:
            assert params == {"gpus": 0, "cpus": 0.5, "memory": 300}
        else:
            assert params == {"gpus": i, "min_gpu_free_memory": 300 + i, "max_gpu_utilization": 0.95, "cpus": 0.5}
    with pytest.raises(ValueError, match="gpus has 2 entries for 3 splits"):
        _plan(3, gpus=[1, 1])


def test_names_are_dns_labels_of_at_most_63_characters() -> None:
    assert short_task_id("split-abcdefghijkl") == "abcdefgh"  # the platform's prefix carries no information
    assert short_task_id("T_42") == "t-42"
    stem, ids = plan_names("Smollm2 135M 8k Lc100K Mix1 Ep2", "split-abcdefghijkl", 3)
    assert stem == "smollm2-135m-8k-lc100k-mix1-ep2-abcdefgh"
    assert ids == [stem + f"-s{i}" for i in range(3)]
    stem, ids = plan_names("A" * 80 + " model", TASK, 12)
    assert all(len(i) <= 63 for i in ids) and len(ids[-1]) == 63 and ids[-1].endswith("-abcdefgh-s11")
    stem, ids = plan_names("x-" * 40, TASK, 2)  # trimming must not leave a trailing '-' before the task part
    assert "--" not in ids[0] and validate_plan(_plan(2, base_name="x-" * 40)) == []
    stem, ids = plan_names("日本語", TASK, 1)
    assert ids == ["model-abcdefgh-s0"]


def test_validate_reports_every_problem_at_once() -> None:
    plan = _plan(3)
    plan["planVersion"] = 2
    plan["model"]["name"] = ""
    plan["model"]["layers"] = True
    plan["splits"][1]["splitId"] = "split-0"
    plan["splits"][2]["artifact"] = {"sha256": "ABC", "size": 0}
    plan["splits"][2]["memoryMB"] = 0
    problems = validate_plan(plan)
    assert problems == [
        "planVersion: must be 1, got 2",
        "model.name: required, a non-empty string",
        "model.layers: must be an integer >= 1, got True",
        "splits[1].splitId: duplicate 'split-0' (splits[0])",
        "splits[2].artifact.sha256: must be 64 lowercase hex digits, got 'ABC'",
        "splits[2].artifact.size: must be an integer >= 1, got 0",
        'splits[2].artifact: needs "file" (a file in the output directory) or "uri"',
        "splits[2].memoryMB: must be a number > 0, got 0",
    ]


@pytest.mark.parametrize("n", [2, 3])
def test_gaps_overlaps_and_short_coverage(n: int) -> None:
    plan = _plan(n)
    plan["splits"][1]["layers"][0] += 1
    assert any("a gap" in p and p.startswith("splits[1].layers") for p in validate_plan(plan))
    plan = _plan(n)
    plan["splits"][1]["layers"][0] -= 1
    assert any("an overlap" in p for p in validate_plan(plan))
    plan = _plan(n)
    plan["splits"][-1]["layers"][1] = 29
    assert validate_plan(plan) == ["splits: the last split ends at layer 29, but the model has 30 layers: "
                                   "layers 29..29 are in no split"]
    plan = _plan(n)
    plan["splits"][0]["layers"] = [0, 0]
    assert "splits[0].layers: start 0 must be less than end 0" in validate_plan(plan)


def test_memory_below_the_allocators_ask() -> None:
    plan = _plan(2, gpus=[0, 1])
    _values(plan["splits"][0]["block"])["policyRulesSpec"][0]["values"]["parameters"]["memory"] = 299
    _values(plan["splits"][1]["block"])["policyRulesSpec"][0]["values"]["parameters"]["min_gpu_free_memory"] = 100
    problems = validate_plan(plan)
    assert len(problems) == 2
    assert problems[0].startswith("splits[0].block.body.spec.values.policyRulesSpec[0].values.parameters.memory: "
                                  "299 is less than the split's memoryMB 300")
    assert problems[1].startswith("splits[1].block.body.spec.values.policyRulesSpec[0].values.parameters."
                                  "min_gpu_free_memory: 100 is less than the split's memoryMB 301")
    plan = _plan(1)
    _values(plan["splits"][0]["block"])["policyRulesSpec"] = []
    assert validate_plan(plan) == ["splits[0].block.body.spec.values.policyRulesSpec: needs a resourceAllocator rule "
                                   "asking for memoryMB (300)"]


def test_block_ids_and_vdag_chain() -> None:
    plan = _plan(3)
    _values(plan["splits"][2]["block"])["blockId"] = _values(plan["splits"][0]["block"])["blockId"]
    problems = validate_plan(plan)
    assert "splits[2].block: duplicate block id 'smollm2-135m-abcdefgh-s0' (splits[0])" in problems

    plan = _plan(3)
    _values(plan["splits"][1]["block"])["blockId"] = "Bad_Id"
    assert any(p.startswith("splits[1].block.body.spec.values.blockId: 'Bad_Id' must be a DNS label")
               for p in validate_plan(plan))

    plan = _plan(3)  # wired in the wrong order
    conns = _values(plan["vdag"])["graph"]["connections"]
    conns[0]["inputs"][0]["nodeLabel"], conns[1]["inputs"][0]["nodeLabel"] = "split-2", "split-0"
    problems = validate_plan(plan)
    assert "vdag.body.spec.values.graph.connections: node 'split-1' (splits[1]) must be fed by 'split-0' only; " \
           "its parents are ['split-2']" in problems

    plan = _plan(3)
    v = _values(plan["vdag"])
    v["nodes"].pop()
    problems = validate_plan(plan)
    assert "vdag.body.spec.values.nodes: 2 nodes for 3 splits (one node per split's block)" in problems
    assert "vdag.body.spec.values.nodes: no node runs splits[2]'s block 'smollm2-135m-abcdefgh-s2'" in problems

    plan = _plan(2)
    v = _values(plan["vdag"])
    v["graph"]["output"][0]["nodeLabel"] = "split-0"
    v["nodes"][1]["spec"]["values"]["manualBlockId"] = "elsewhere"
    v["vdagName"] = "-bad"
    problems = validate_plan(plan)
    assert any(p.startswith("vdag.body.spec.values.vdagName: '-bad'") for p in problems)
    assert "vdag.body.spec.values.nodes[1].spec.values.manualBlockId: 'elsewhere' is not the block of any split" \
        in problems

    plan = _plan(2)
    _values(plan["vdag"])["graph"]["output"][0]["nodeLabel"] = "split-0"
    assert validate_plan(plan) == ["vdag.body.spec.values.graph.output: must be the last split's node 'split-1' "
                                   "only, got ['split-0']"]


def test_platform_shape_with_uri_and_bare_values_is_valid() -> None:
    plan = _plan(2)
    for split in plan["splits"]:  # as the platform stores it: file -> uri; blocks as bare values
        art = split["artifact"]
        art["uri"] = "/api/artifacts/" + art.pop("file")
        split["block"] = _values(split["block"])
    plan["vdag"] = _values(plan["vdag"])
    assert validate_plan(plan) == []
    assert validate_plan("nope") == ["plan: expected a JSON object, got str"]
    bad: List[str] = validate_plan({})
    assert bad[:2] == ["planVersion: must be 1, got None", "model: required, an object"]
    assert validate_plan(copy.deepcopy(plan)) == []
