"""Typed shapes of what each policy kind receives and returns.

Field names are AIOS's (see the AIOS reference notes: control plane §5-6, block runtime §4, vDAG
runtime), so a policy written for AIOS reads the same keys here. They are ``TypedDict``s: documentation
and type-checking help for policy authors, nothing is enforced at run time except by
:func:`check_output`, which the platform may use to turn a malformed result into a clear error.

A policy is a class ``AIOSv1PolicyRule`` in ``code/function.py``::

    class AIOSv1PolicyRule:
        def __init__(self, rule_id: str, settings: dict, parameters: dict): ...
        def eval(self, parameters: dict, input_data: dict, context: Any) -> Any: ...
        def management(self, action: str, data: dict) -> Any: ...   # optional
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional, TypedDict

JSON = Any
"""Anything ``json.dumps`` accepts (dict, list, str, int, float, bool, None)."""

POLICY_KINDS: tuple = (
    "clusterAllocator",
    "resourceAllocator",
    "loadBalancer",
    "autoscaler",
    "stabilityChecker",
    # vDAG kinds
    "assignment",
    "preprocessing",
    "postprocessing",
    "quotaChecker",
)
"""The ``<kind>`` part of ``policy.<kind>.<name>:<version>``."""


class PolicyError(Exception):
    """A policy failed. ``kind`` says at which stage (the worker protocol's error kinds):

    ``import`` (function.py or its class could not be loaded), ``init`` (the constructor raised),
    ``eval`` (``eval``/``management`` raised, or the policy has no ``management``), ``encode`` (the result
    is not JSON), ``protocol`` (a bad request or frame).
    """

    def __init__(self, message: str, kind: str = "eval", traceback: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.traceback = traceback

    def to_dict(self) -> Dict[str, str]:
        return {"error": self.message, "kind": self.kind, "traceback": self.traceback}


@dataclass(frozen=True)
class PolicyURI:
    kind: str
    name: str
    version: str

    def __str__(self) -> str:
        return f"policy.{self.kind}.{self.name}:{self.version}"


_URI = re.compile(r"^policy\.([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z0-9][A-Za-z0-9_.-]*):([A-Za-z0-9][A-Za-z0-9_.+-]*)$")


def parse_policy_uri(uri: str) -> PolicyURI:
    """``policy.<kind>.<name>:<version>`` -> :class:`PolicyURI`; raises ``ValueError`` otherwise.

    The kind is not checked against :data:`POLICY_KINDS` (AIOS has more names, e.g. pre-checks).
    """
    m = _URI.match(uri.strip())
    if not m:
        raise ValueError(f"policy URI {uri!r} is not policy.<kind>.<name>:<version>")
    return PolicyURI(m.group(1), m.group(2), m.group(3))


# --------------------------------------------------------------------------------------------------
# clusterAllocator (gateway; AIOS control plane §5.1, §6.5)


class ClusterSelectionInput(TypedDict):
    """``action == "selection"``: clusters that passed ``parameters.filter``."""

    action: Literal["selection"]
    filter_result: List[Dict[str, JSON]]  # cluster documents
    block_data: Dict[str, JSON]  # the block (IR)


class ClusterSelectionOutput(TypedDict):
    clusters: List[JSON]  # the chosen cluster documents or ids, best first


class DryRunCluster(TypedDict):
    id: str
    cluster: Dict[str, JSON]
    score_data: Dict[str, JSON]  # the resourceAllocator's selection_score_data for this cluster
    block_data: Dict[str, JSON]


class ClusterPostDryRunInput(TypedDict):
    action: Literal["post_dry_run"]
    clusters: List[DryRunCluster]


# post_dry_run returns one element of ``clusters`` (AIOS uses its ``id``).
ClusterPostDryRunOutput = DryRunCluster

# --------------------------------------------------------------------------------------------------
# resourceAllocator (cluster controller; AIOS §5.3): input {"action": A, "payload": P}


class ResourceAllocatorPayload(TypedDict, total=False):
    action: str
    block: Dict[str, JSON]
    cluster: Dict[str, JSON]
    cluster_metrics: Dict[str, JSON]
    healthy_nodes: List[str]
    block_metrics: List[Dict[str, JSON]]  # scale, reassignment
    instance_id: str  # reassignment
    failure_reason: str  # reassignment


class ResourceAllocatorInput(TypedDict):
    action: Literal["dry_run", "allocation", "scale", "reassignment", "third_party_allocate"]
    payload: ResourceAllocatorPayload


class NodeChoice(TypedDict):
    """``allocation``/``scale``/``reassignment`` output: one node and the GPU indices on it."""

    node_id: str
    gpus: List[int]


class SelectionScore(TypedDict):
    score: float  # 0..1
    node_info: NodeChoice


class DryRunOutput(TypedDict):
    selection_score_data: SelectionScore


# --------------------------------------------------------------------------------------------------
# loadBalancer (block executor; AIOS block runtime §4.1)


class LoadBalancerInput(TypedDict):
    mode: Literal["load_balance"]
    packet: Dict[str, JSON]  # the AIOS packet (session_id, seq_no, data, ...)
    instances: List[str]  # ids of the ready instances


class LoadBalancerOutput(TypedDict):
    instance_id: str  # one of ``instances``


# --------------------------------------------------------------------------------------------------
# autoscaler (AIOS block runtime §4.2)


class AutoscalerInput(TypedDict):
    block_data: Dict[str, JSON]
    cluster_data: Dict[str, JSON]
    current_instances: List[str]


class AutoscalerOutput(TypedDict, total=False):
    """``{"skip": true}``, or upscale by ``instances_count``, or downscale ``instances_list``."""

    skip: bool
    operation: Literal["upscale", "downscale"]
    instances_count: int
    allocation_data: List[Dict[str, JSON]]  # [{"node_id", "gpu_ids"}]
    instances_list: List[str]


# --------------------------------------------------------------------------------------------------
# stabilityChecker (AIOS block runtime §4.3); the return value is advisory


class StabilityCheckerInput(TypedDict):
    block_data: Dict[str, JSON]
    cluster_data: Dict[str, JSON]
    health_check_data: Dict[str, bool]  # instance id -> healthy
    instances: Dict[str, Dict[str, JSON]]


# --------------------------------------------------------------------------------------------------
# vDAG kinds


class AssignmentInput(TypedDict):
    """Ranks candidate blocks for a vDAG node; must pick exactly one."""

    node: Dict[str, JSON]
    candidates: List[Dict[str, JSON]]  # block documents


class AssignmentOutput(TypedDict):
    block_id: str


class PacketInput(TypedDict):
    """preprocessing / postprocessing input: ``{"packet": AIOSPacket}``; output the same shape."""

    packet: Dict[str, JSON]


class QuotaCheckerInput(TypedDict):
    quota_table: Dict[str, JSON]
    input: JSON
    quota: JSON
    session_id: str


class QuotaCheckerOutput(TypedDict):
    allowed: bool


# --------------------------------------------------------------------------------------------------


def check_output(kind: str, result: JSON, input_data: Optional[Dict[str, JSON]] = None) -> List[str]:
    """Problems with a policy's result for ``kind`` (empty when it looks right).

    Only the fields the platform acts on are checked; extra keys are allowed. ``input_data`` lets the
    check see the action/mode and, for a loadBalancer, whether the chosen instance was offered.
    """
    inp = input_data or {}
    errs: List[str] = []

    def need_dict() -> bool:
        if not isinstance(result, dict):
            errs.append(f"{kind} result must be an object, got {type(result).__name__}")
            return False
        return True

    if kind == "clusterAllocator":
        if inp.get("action") == "post_dry_run":
            if not need_dict() or "id" not in result:
                errs.append("post_dry_run result must be one element of clusters (with its id)")
        elif need_dict() and not isinstance(result.get("clusters"), list):
            errs.append("selection result needs clusters: [...]")
    elif kind == "resourceAllocator":
        if not need_dict():
            return errs
        action = inp.get("action")
        if action == "dry_run":
            ssd = result.get("selection_score_data")
            if not isinstance(ssd, dict) or not isinstance(ssd.get("score"), (int, float)):
                errs.append("dry_run result needs selection_score_data: {score, node_info}")
        elif action in ("allocation", "scale", "reassignment"):
            if not isinstance(result.get("node_id"), str):
                errs.append("result needs node_id (string)")
            gpus = result.get("gpus", [])
            if not isinstance(gpus, list) or not all(isinstance(g, int) and not isinstance(g, bool) for g in gpus):
                errs.append("gpus must be a list of integer GPU indices")
    elif kind == "loadBalancer":
        if inp.get("mode", "load_balance") == "load_balance" and need_dict():
            iid = result.get("instance_id")
            if not isinstance(iid, str):
                errs.append("load_balance result needs instance_id (string)")
            elif isinstance(inp.get("instances"), list) and iid not in inp["instances"]:
                errs.append(f"instance_id {iid!r} is not one of the offered instances")
    elif kind == "autoscaler":
        if need_dict() and not result.get("skip", False):
            op = result.get("operation")
            if op == "upscale":
                n = result.get("instances_count")
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    errs.append("upscale needs instances_count (integer >= 0)")
            elif op == "downscale":
                if not isinstance(result.get("instances_list"), list):
                    errs.append("downscale needs instances_list: [...]")
            else:
                errs.append('autoscaler result needs skip: true or operation "upscale"|"downscale"')
    elif kind == "quotaChecker":
        if need_dict() and not isinstance(result.get("allowed"), bool):
            errs.append("quotaChecker result needs allowed (bool)")
    elif kind in ("preprocessing", "postprocessing"):
        if need_dict() and "packet" not in result:
            errs.append(f"{kind} result needs packet")
    elif kind == "assignment":
        if need_dict() and not isinstance(result.get("block_id"), str):
            errs.append("assignment result needs block_id (string)")
    return errs

