"""The model plan (``planVersion`` 1, docs/model-plan.md §3): building it and checking it.

A plan holds the model, the splitter, one entry per split (layer range, artifact, memory estimate and the AIOS
block spec that runs it) and the AIOS vDAG spec chaining the splits' blocks in order. :func:`build_plan`
produces the block and vDAG specs for the reference split runner (``examples/llm-split/split_block.py``, whose
packet protocol the vDAG's IO maps describe); :func:`validate_plan` checks the §3 rules and returns every
problem as ``"path: message"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .context import ArtifactRef, SplitArtifactError, check_artifact_name

PLAN_VERSION = 1
DEFAULT_RUNNER = "model.smollm2-split:0.1.0-stable"
PARSER_TEMPLATE = "Parser/V1"
CPU_ALLOCATOR_URI = "policy.resourceAllocator.cpu-node-selector:v0.0.1"
GPU_ALLOCATOR_URI = "policy.resourceAllocator.gpu-node-selector:v0.0.1"
CLUSTER_PIN_URI = "policy.clusterAllocator.pin:v0.0.1"
DEFAULT_CPUS = 0.5
DEFAULT_MAX_GPU_UTILIZATION = 0.95
DEFAULT_MAX_SESSIONS = 64
DEFAULT_SESSION_IDLE_S = 600
DEFAULT_MAX_OUTPUT_WAIT_S = 120
VDAG_VERSION = {"version": "0.0.1", "release-tag": "stable"}
MAX_ID = 63

# The reference runner's packet protocol (examples/llm-split/README.md, "Protocol").
FIRST_INPUTS = ["prompt", "messages", "token", "tokens", "position", "temperature", "seed", "top_k"]
HIDDEN_NAMES = ["position", "n", "tokens", "sampling", "layer"]
TOKEN_NAMES = ["token", "text", "eos", "position", "top"]
HIDDEN_INPUT_PROTOCOL = {
    "position": {"type": "integer", "required": True}, "n": {"type": "integer", "required": True},
    "tokens": {"type": "array", "required": True}, "sampling": {"type": "object"}, "layer": {"type": "integer"},
}
HIDDEN_OUTPUT_PROTOCOL = {
    "position": {"type": "integer"}, "n": {"type": "integer"}, "tokens": {"type": "array"},
    "sampling": {"type": "object"}, "layer": {"type": "integer"},
}
TOKEN_OUTPUT_PROTOCOL = {
    "token": {"type": "integer"}, "text": {"type": "string"}, "eos": {"type": "boolean"},
    "position": {"type": "integer"}, "top": {"type": "array"},
}

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class PlanError(ValueError):
    """A plan breaks the rules; ``problems`` lists each as ``"path: message"``."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(f"the plan is invalid ({len(self.problems)} problem(s)):\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class ModelInfo:
    """The plan's ``model`` section."""

    name: str
    architecture: str
    layers: int
    dtype: str
    source: str = ""
    sha256: str = ""
    size: int = 0

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name, "architecture": self.architecture, "layers": self.layers,
                               "dtype": self.dtype}
        if self.source:
            out["source"] = self.source
        if self.sha256:
            out["sha256"] = self.sha256
        if self.size:
            out["size"] = self.size
        return out


@dataclass(frozen=True)
class PlannedSplit:
    """One split for :func:`build_plan`: its id, layers ``[start, end)``, artifact and memory estimate (MB)."""

    split_id: str
    layers: Tuple[int, int]
    artifact: ArtifactRef
    memory_mb: int


# ------------------------------------------------------------------------------------------------ ids


def slug(text: str) -> str:
    """``text`` lowercased with every run of characters other than ``[a-z0-9]`` turned into one ``-``."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def short_task_id(task_id: str) -> str:
    """Eight characters that tell tasks apart: the task id's slug without the platform's ``split-`` prefix
    (its ids are ``split-`` plus 12 random characters), first 8 characters."""
    s = slug(task_id)
    if s.startswith("split-") and len(s) > len("split-"):
        s = s[len("split-"):]
    return s[:8].strip("-")


def plan_names(base_name: str, task_id: str, n_splits: int) -> Tuple[str, List[str]]:
    """``(vdagName, [block id per split])``: ``{base}-{task8}`` and ``{base}-{task8}-s{i}``, lowercase
    ``[a-z0-9-]``, each at most 63 characters (the base is shortened so that the longest block id fits)."""
    if n_splits < 1:
        raise ValueError(f"n_splits must be >= 1, got {n_splits}")
    base = slug(base_name) or "model"
    short = short_task_id(task_id)
    stem_suffix = f"-{short}" if short else ""
    longest = f"{stem_suffix}-s{n_splits - 1}"
    base = base[: MAX_ID - len(longest)].strip("-") or "m"
    stem = base + stem_suffix
    return stem, [f"{stem}-s{i}" for i in range(n_splits)]


# ------------------------------------------------------------------------------------------------ building


def _envelope(values: Dict[str, Any], head_key: str) -> Dict[str, Any]:
    return {head_key: {"templateUri": PARSER_TEMPLATE, "parameters": {}}, "body": {"spec": {"values": values}}}


def resource_allocator(memory_mb: int, gpus: int = 0, cpus: float = DEFAULT_CPUS) -> Dict[str, Any]:
    """The ``resourceAllocator`` rule asking for ``memory_mb``: host memory without GPUs, else that much free
    memory on each GPU."""
    if gpus <= 0:
        uri, params = CPU_ALLOCATOR_URI, {"gpus": 0, "cpus": cpus, "memory": memory_mb}
    else:
        uri = GPU_ALLOCATOR_URI
        params = {"gpus": gpus, "min_gpu_free_memory": memory_mb, "max_gpu_utilization": DEFAULT_MAX_GPU_UTILIZATION,
                  "cpus": cpus}
    return {"values": {"name": "resourceAllocator", "policyRuleURI": uri, "parameters": params, "settings": {}}}


def cluster_pin(cluster_id: str) -> Dict[str, Any]:
    """The ``clusterAllocator`` rule that places a block on the cluster ``cluster_id`` only."""
    return {"values": {"name": "clusterAllocator", "policyRuleURI": CLUSTER_PIN_URI,
                       "parameters": {"filter": {"clusterQuery": {"variable": "id", "operator": "==",
                                                                  "value": cluster_id}}},
                       "settings": {}}}


def block_spec(block_id: str, runner: str, memory_mb: int, gpus: int = 0, cluster_id: Optional[str] = None,
               max_sessions: int = DEFAULT_MAX_SESSIONS, session_idle_s: int = DEFAULT_SESSION_IDLE_S) -> Dict[str, Any]:
    """A split's block spec (Parser/V1 envelope, as ``examples/llm-split/blocks/split-0.json``). The platform
    adds ``layers`` and ``artifact`` to ``blockInitData`` at deploy."""
    rules: List[Dict[str, Any]] = []
    if cluster_id:
        rules.append(cluster_pin(cluster_id))
    rules.append(resource_allocator(memory_mb, gpus))
    return _envelope({
        "blockId": block_id,
        "blockComponentURI": runner,
        "minInstances": 1,
        "maxInstances": 1,
        "blockInitData": {"max_sessions": max_sessions, "session_idle_s": session_idle_s},
        "initSettings": {},
        "parameters": {},
        "policyRulesSpec": rules,
    }, "head")


def vdag_spec(vdag_name: str, labels: Sequence[str], block_ids: Sequence[str], tags: Sequence[str] = (),
              max_output_wait_s: int = DEFAULT_MAX_OUTPUT_WAIT_S) -> Dict[str, Any]:
    """The vDAG chaining ``block_ids`` in order (node labels ``labels``), shaped as ``examples/llm-split/vdag.json``."""
    if len(labels) != len(block_ids) or not labels:
        raise ValueError("vdag_spec needs one label per block id, at least one")
    n = len(labels)
    nodes: List[Dict[str, Any]] = []
    for i, (label, block_id) in enumerate(zip(labels, block_ids)):
        first, last = i == 0, i == n - 1
        values: Dict[str, Any] = {"nodeLabel": label, "nodeType": "block", "manualBlockId": block_id}
        if not first:
            values["inputProtocol"] = {k: dict(v) for k, v in HIDDEN_INPUT_PROTOCOL.items()}
        values["outputProtocol"] = {k: dict(v) for k, v in (TOKEN_OUTPUT_PROTOCOL if last else HIDDEN_OUTPUT_PROTOCOL).items()}
        nodes.append({"spec": {"values": values},
                      "IOMap": [{"inputs": list(FIRST_INPUTS if first else HIDDEN_NAMES),
                                 "outputs": list(TOKEN_NAMES if last else HIDDEN_NAMES)}]})
    graph = {
        "input": [{"nodeLabel": labels[0], "inputNames": list(FIRST_INPUTS)}],
        "output": [{"nodeLabel": labels[-1], "outputNames": list(TOKEN_NAMES)}],
        "connections": [{"nodeLabel": labels[i], "inputs": [{"nodeLabel": labels[i - 1], "outputNames": list(HIDDEN_NAMES)}]}
                        for i in range(1, n)],
    }
    return _envelope({
        "vdagName": vdag_name,
        "vdagVersion": dict(VDAG_VERSION),
        "discoveryTags": list(tags),
        "controller": {"inputSources": [], "initParameters": {},
                       "initSettings": {"maxOutputWaitTimeSeconds": max_output_wait_s}},
        "nodes": nodes,
        "graph": graph,
    }, "header")


def _as_model(model: Union[ModelInfo, Mapping[str, Any]]) -> Dict[str, Any]:
    return model.to_json() if isinstance(model, ModelInfo) else dict(model)


def _as_split(split: Union[PlannedSplit, Mapping[str, Any]]) -> Tuple[str, List[int], Dict[str, Any], Any]:
    if isinstance(split, PlannedSplit):
        return split.split_id, [int(split.layers[0]), int(split.layers[1])], split.artifact.to_json(), split.memory_mb
    art = split["artifact"]
    return (str(split["splitId"]), [int(x) for x in split["layers"]],
            art.to_json() if isinstance(art, ArtifactRef) else dict(art), split["memoryMB"])


def build_plan(*, model: Union[ModelInfo, Mapping[str, Any]], splitter: Mapping[str, Any],
               splits: Sequence[Union[PlannedSplit, Mapping[str, Any]]], runner: str = DEFAULT_RUNNER,
               base_name: str, task_id: str, gpus: Union[int, Sequence[int]] = 0, cluster_id: Optional[str] = None,
               max_sessions: int = DEFAULT_MAX_SESSIONS, session_idle_s: int = DEFAULT_SESSION_IDLE_S,
               max_output_wait_s: int = DEFAULT_MAX_OUTPUT_WAIT_S) -> Dict[str, Any]:
    """The planVersion 1 plan (docs/model-plan.md §3).

    ``splits`` are :class:`PlannedSplit` or dicts ``{"splitId", "layers", "artifact", "memoryMB"}``, in layer
    order. ``gpus`` is one count for every split or one per split: 0 asks ``resourceAllocator`` for
    ``{"gpus": 0, "cpus": 0.5, "memory": memoryMB}``; g >= 1 for ``{"gpus": g, "min_gpu_free_memory": memoryMB,
    "max_gpu_utilization": 0.95, "cpus": 0.5}``. ``cluster_id`` pins every block to that cluster. Block ids are
    ``{base}-{task8}-s{i}``, the vDAG ``{base}-{task8}`` (see :func:`plan_names`); node labels are the split ids.
    The result is not validated here: :func:`validate_plan` or ``context.emit_plan`` do that.
    """
    if not splits:
        raise ValueError("build_plan needs at least one split")
    parsed = [_as_split(s) for s in splits]
    n = len(parsed)
    if isinstance(gpus, int) and not isinstance(gpus, bool):
        per_split = [gpus] * n
    else:
        per_split = [int(g) for g in gpus]  # type: ignore[union-attr]
        if len(per_split) != n:
            raise ValueError(f"gpus has {len(per_split)} entries for {n} splits")
    if any(g < 0 for g in per_split):
        raise ValueError(f"gpus must be >= 0, got {per_split}")
    model_json = _as_model(model)
    vdag_name, block_ids = plan_names(base_name, task_id, n)
    out_splits: List[Dict[str, Any]] = []
    for (split_id, layers, artifact, memory_mb), block_id, g in zip(parsed, block_ids, per_split):
        out_splits.append({
            "splitId": split_id,
            "layers": layers,
            "artifact": artifact,
            "memoryMB": memory_mb,
            "block": block_spec(block_id, runner, memory_mb, g, cluster_id, max_sessions, session_idle_s),
        })
    tags = ["llm", "split"] + ([slug(model_json["architecture"])] if slug(model_json.get("architecture", "")) else [])
    return {
        "planVersion": PLAN_VERSION,
        "model": model_json,
        "splitter": dict(splitter),
        "splits": out_splits,
        "vdag": vdag_spec(vdag_name, [p[0] for p in parsed], block_ids, tags, max_output_wait_s),
    }


# ------------------------------------------------------------------------------------------------ validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _spec_values(doc: Any, where: str, problems: List[str]) -> Optional[Dict[str, Any]]:
    """The ``values`` of a Parser/V1 envelope (or of bare values), else ``None`` with the problem noted."""
    if not isinstance(doc, dict):
        problems.append(f"{where}: expected a spec object, got {type(doc).__name__}")
        return None
    if not any(k in doc for k in ("header", "head", "body")):
        return doc
    head_key = "header" if "header" in doc else "head" if "head" in doc else None
    if head_key is not None:
        head = doc[head_key]
        if not isinstance(head, dict):
            problems.append(f"{where}.{head_key}: expected an object")
        elif head.get("templateUri") not in (None, PARSER_TEMPLATE):
            problems.append(f"{where}.{head_key}.templateUri: expected {PARSER_TEMPLATE!r}, got {head.get('templateUri')!r}")
    body = doc.get("body")
    spec = body.get("spec") if isinstance(body, dict) else None
    values = spec.get("values") if isinstance(spec, dict) else None
    if not isinstance(values, dict):
        problems.append(f"{where}.body.spec.values: required, an object")
        return None
    return values


def _check_block(block: Any, where: str, memory_mb: Any, problems: List[str]) -> Optional[str]:
    """Checks a split's block spec; returns its block id (when it has a usable one)."""
    values = _spec_values(block, where, problems)
    if values is None:
        return None
    vpath = f"{where}.body.spec.values" if isinstance(block, dict) and "body" in block else where
    block_id = values.get("blockId")
    ok_id: Optional[str] = None
    if not isinstance(block_id, str) or not block_id:
        problems.append(f"{vpath}.blockId: required, a non-empty string")
    elif len(block_id) > MAX_ID:
        problems.append(f"{vpath}.blockId: must be at most {MAX_ID} characters (a DNS label), got {len(block_id)}")
    elif not _DNS_LABEL.match(block_id):
        problems.append(f"{vpath}.blockId: {block_id!r} must be a DNS label (lowercase letters, digits and '-', "
                        "starting and ending with a letter or digit)")
    else:
        ok_id = block_id
    uri = values.get("blockComponentURI")
    if not isinstance(uri, str) or not uri:
        problems.append(f"{vpath}.blockComponentURI: required, a non-empty string")
    lo, hi = values.get("minInstances", 1), values.get("maxInstances", 1)
    if not _is_int(lo) or lo < 0:
        problems.append(f"{vpath}.minInstances: must be an integer >= 0, got {lo!r}")
    if not _is_int(hi) or hi < 1:
        problems.append(f"{vpath}.maxInstances: must be an integer >= 1, got {hi!r}")
    elif _is_int(lo) and lo > hi:
        problems.append(f"{vpath}.minInstances: {lo} is more than maxInstances {hi}")
    for key in ("blockInitData", "initSettings", "parameters"):
        if key in values and not isinstance(values[key], dict):
            problems.append(f"{vpath}.{key}: expected an object, got {type(values[key]).__name__}")
    rules = values.get("policyRulesSpec", [])
    if not isinstance(rules, list):
        problems.append(f"{vpath}.policyRulesSpec: expected a list")
        rules = []
    allocator: Optional[Tuple[int, Dict[str, Any]]] = None
    for j, rule in enumerate(rules):
        rv = rule.get("values") if isinstance(rule, dict) and "values" in rule else rule
        rpath = f"{vpath}.policyRulesSpec[{j}]" + (".values" if isinstance(rule, dict) and "values" in rule else "")
        if not isinstance(rv, dict) or not isinstance(rv.get("name"), str):
            problems.append(f"{rpath}: expected {{\"name\", \"policyRuleURI\", \"parameters\"}}")
            continue
        if not isinstance(rv.get("policyRuleURI"), str) or not rv["policyRuleURI"]:
            problems.append(f"{rpath}.policyRuleURI: required, a non-empty string")
        params = rv.get("parameters", {})
        if not isinstance(params, dict):
            problems.append(f"{rpath}.parameters: expected an object")
            continue
        if rv["name"] == "resourceAllocator":
            allocator = (j, params)
    if allocator is None:
        problems.append(f"{vpath}.policyRulesSpec: needs a resourceAllocator rule asking for memoryMB ({memory_mb!r})")
    elif _is_number(memory_mb):
        j, params = allocator
        rpath = f"{vpath}.policyRulesSpec[{j}].values.parameters"
        gpus = params.get("gpus", 0)
        if not _is_int(gpus) or gpus < 0:
            problems.append(f"{rpath}.gpus: must be an integer >= 0, got {gpus!r}")
        elif gpus >= 1:
            ask = params.get("min_gpu_free_memory")
            if not _is_number(ask) or ask < memory_mb:
                problems.append(f"{rpath}.min_gpu_free_memory: {ask!r} is less than the split's memoryMB {memory_mb} "
                                f"(a block with GPUs must ask each GPU for at least memoryMB free)")
        else:
            key = "min_memory_mb" if "min_memory_mb" in params else "memory"
            ask = params.get(key)
            if not _is_number(ask) or ask < memory_mb:
                problems.append(f"{rpath}.{key}: {ask!r} is less than the split's memoryMB {memory_mb} "
                                f"(a block without GPUs must ask for at least memoryMB of host memory)")
    return ok_id


def _labels(entries: Any) -> List[Any]:
    return [e.get("nodeLabel") for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _check_vdag(vdag: Any, block_ids: List[Optional[str]], problems: List[str]) -> None:
    where = "vdag"
    values = _spec_values(vdag, where, problems)
    if values is None:
        return
    vpath = "vdag.body.spec.values" if isinstance(vdag, dict) and "body" in vdag else where
    name = values.get("vdagName")
    if not isinstance(name, str) or not name:
        problems.append(f"{vpath}.vdagName: required, a non-empty string")
    elif len(name) > MAX_ID or not _RESOURCE_NAME.match(name):
        problems.append(f"{vpath}.vdagName: {name!r} must be at most {MAX_ID} letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit")
    nodes = values.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        problems.append(f"{vpath}.nodes: required, a non-empty list")
        return
    label_of: Dict[str, str] = {}  # block id -> node label
    seen_labels: Dict[str, int] = {}
    for k, node in enumerate(nodes):
        npath = f"{vpath}.nodes[{k}].spec.values"
        nv = node.get("spec", {}).get("values") if isinstance(node, dict) and isinstance(node.get("spec"), dict) else None
        if not isinstance(nv, dict):
            problems.append(f"{npath}: required, an object")
            continue
        label, bid = nv.get("nodeLabel"), nv.get("manualBlockId")
        if not isinstance(label, str) or not label:
            problems.append(f"{npath}.nodeLabel: required, a non-empty string")
            continue
        if label in seen_labels:
            problems.append(f"{npath}.nodeLabel: duplicate node label {label!r} (nodes[{seen_labels[label]}])")
            continue
        seen_labels[label] = k
        if not isinstance(bid, str) or not bid:
            problems.append(f"{npath}.manualBlockId: required: every node runs one split's block")
            continue
        if bid not in block_ids:
            problems.append(f"{npath}.manualBlockId: {bid!r} is not the block of any split")
            continue
        if bid in label_of:
            problems.append(f"{npath}.manualBlockId: {bid!r} is used by node {label_of[bid]!r} too")
            continue
        label_of[bid] = label
    if len(nodes) != len(block_ids):
        problems.append(f"{vpath}.nodes: {len(nodes)} nodes for {len(block_ids)} splits (one node per split's block)")
    for i, bid in enumerate(block_ids):
        if bid is not None and bid not in label_of:
            problems.append(f"{vpath}.nodes: no node runs splits[{i}]'s block {bid!r}")
    if any(b is None for b in block_ids) or len(label_of) != len(block_ids):
        return  # the chain cannot be checked without every split's node
    chain = [label_of[b] for b in block_ids]  # type: ignore[index]
    graph = values.get("graph")
    if not isinstance(graph, dict):
        problems.append(f"{vpath}.graph: required, an object")
        return
    gpath = f"{vpath}.graph"
    if _labels(graph.get("input")) != [chain[0]]:
        problems.append(f"{gpath}.input: must be the first split's node {chain[0]!r} only, got {_labels(graph.get('input'))}")
    if _labels(graph.get("output")) != [chain[-1]]:
        problems.append(f"{gpath}.output: must be the last split's node {chain[-1]!r} only, got {_labels(graph.get('output'))}")
    connections = graph.get("connections", [])
    if not isinstance(connections, list):
        problems.append(f"{gpath}.connections: expected a list")
        return
    parents: Dict[str, List[Any]] = {}
    for k, conn in enumerate(connections):
        if not isinstance(conn, dict) or not isinstance(conn.get("nodeLabel"), str):
            problems.append(f"{gpath}.connections[{k}]: expected {{\"nodeLabel\", \"inputs\"}}")
            continue
        parents.setdefault(conn["nodeLabel"], []).extend(_labels(conn.get("inputs")))
    for i, label in enumerate(chain):
        want = [] if i == 0 else [chain[i - 1]]
        got = parents.pop(label, [])
        if got != want:
            what = "the graph's input, with no parent" if i == 0 else f"fed by {chain[i - 1]!r} only"
            problems.append(f"{gpath}.connections: node {label!r} (splits[{i}]) must be {what}; its parents are {got}")
    for label in parents:
        problems.append(f"{gpath}.connections: {label!r} is not a split's node")


def validate_plan(plan: Any) -> List[str]:
    """Every problem with ``plan`` as ``"path: message"`` (empty: valid), per docs/model-plan.md §3."""
    problems: List[str] = []
    if not isinstance(plan, dict):
        return [f"plan: expected a JSON object, got {type(plan).__name__}"]
    if plan.get("planVersion") != PLAN_VERSION:
        problems.append(f"planVersion: must be {PLAN_VERSION}, got {plan.get('planVersion')!r}")
    model = plan.get("model")
    n_layers: Optional[int] = None
    if not isinstance(model, dict):
        problems.append("model: required, an object")
    else:
        for key in ("name", "architecture", "dtype"):
            if not isinstance(model.get(key), str) or not model[key].strip():
                problems.append(f"model.{key}: required, a non-empty string")
        if not _is_int(model.get("layers")) or model["layers"] < 1:
            problems.append(f"model.layers: must be an integer >= 1, got {model.get('layers')!r}")
        else:
            n_layers = model["layers"]
        if "sha256" in model and not (isinstance(model["sha256"], str) and _HEX64.match(model["sha256"])):
            problems.append("model.sha256: must be 64 lowercase hex digits")
        if "size" in model and (not _is_int(model["size"]) or model["size"] < 0):
            problems.append(f"model.size: must be an integer >= 0, got {model['size']!r}")
    if "splitter" in plan and not isinstance(plan["splitter"], dict):
        problems.append("splitter: expected an object")
    splits = plan.get("splits")
    if not isinstance(splits, list) or not splits:
        problems.append("splits: required, a non-empty list")
        splits = []
    ids: Dict[str, int] = {}
    block_ids: List[Optional[str]] = []
    block_seen: Dict[str, int] = {}
    expected_start = 0
    ranges_ok = True
    for i, split in enumerate(splits):
        where = f"splits[{i}]"
        if not isinstance(split, dict):
            problems.append(f"{where}: expected an object")
            block_ids.append(None)
            ranges_ok = False
            continue
        sid = split.get("splitId")
        if not isinstance(sid, str) or not sid:
            problems.append(f"{where}.splitId: required, a non-empty string")
        elif sid in ids:
            problems.append(f"{where}.splitId: duplicate {sid!r} (splits[{ids[sid]}])")
        else:
            ids[sid] = i
        layers = split.get("layers")
        if not (isinstance(layers, list) and len(layers) == 2 and all(_is_int(x) for x in layers)):
            problems.append(f"{where}.layers: must be [start, end] (integers), got {layers!r}")
            ranges_ok = False
        else:
            start, end = layers
            if start >= end:
                problems.append(f"{where}.layers: start {start} must be less than end {end}")
                ranges_ok = False
            elif ranges_ok:
                if start > expected_start:
                    problems.append(f"{where}.layers: starts at {start} but the layers before end at {expected_start}: "
                                    f"layers {expected_start}..{start - 1} are in no split (a gap)")
                elif start < expected_start:
                    problems.append(f"{where}.layers: starts at {start} but the layers up to {expected_start - 1} are "
                                    f"already in a split before it (an overlap)")
                expected_start = end
        art = split.get("artifact")
        if not isinstance(art, dict):
            problems.append(f"{where}.artifact: required, an object")
        else:
            if not (isinstance(art.get("sha256"), str) and _HEX64.match(art["sha256"])):
                problems.append(f"{where}.artifact.sha256: must be 64 lowercase hex digits, got {art.get('sha256')!r}")
            if not _is_int(art.get("size")) or art["size"] < 1:
                problems.append(f"{where}.artifact.size: must be an integer >= 1, got {art.get('size')!r}")
            if "file" not in art and "uri" not in art:
                problems.append(f"{where}.artifact: needs \"file\" (a file in the output directory) or \"uri\"")
            if "file" in art:
                try:
                    check_artifact_name(art["file"])
                except SplitArtifactError as e:
                    problems.append(f"{where}.artifact.file: {e}")
            if "uri" in art and (not isinstance(art["uri"], str) or not art["uri"]):
                problems.append(f"{where}.artifact.uri: must be a non-empty string")
        memory_mb = split.get("memoryMB")
        if not _is_number(memory_mb) or not memory_mb > 0:
            problems.append(f"{where}.memoryMB: must be a number > 0, got {memory_mb!r}")
            memory_mb = None
        if "block" not in split:
            problems.append(f"{where}.block: required, the block spec that runs this split")
            block_ids.append(None)
            continue
        bid = _check_block(split["block"], f"{where}.block", memory_mb, problems)
        if bid is not None and bid in block_seen:
            problems.append(f"{where}.block: duplicate block id {bid!r} (splits[{block_seen[bid]}])")
            bid = None
        elif bid is not None:
            block_seen[bid] = i
        block_ids.append(bid)
    if splits and ranges_ok and n_layers is not None and expected_start != n_layers:
        if expected_start < n_layers:
            problems.append(f"splits: the last split ends at layer {expected_start}, but the model has {n_layers} "
                            f"layers: layers {expected_start}..{n_layers - 1} are in no split")
        else:
            problems.append(f"splits: the last split ends at layer {expected_start}, past the model's {n_layers} layers")
    if "vdag" not in plan:
        problems.append("vdag: required, the vDAG spec chaining the splits' blocks")
    elif splits:
        _check_vdag(plan["vdag"], block_ids, problems)
    return problems


__all__ = [
    "DEFAULT_RUNNER",
    "ModelInfo",
    "PLAN_VERSION",
    "PlanError",
    "PlannedSplit",
    "block_spec",
    "build_plan",
    "cluster_pin",
    "plan_names",
    "resource_allocator",
    "short_task_id",
    "slug",
    "validate_plan",
    "vdag_spec",
]
