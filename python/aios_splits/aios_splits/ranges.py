"""Layer ranges for a split: ``even`` (equal layer counts) and ``balanced`` (fit each split on its target node,
in proportion to the nodes' free memory), plus the per-split memory estimate they are measured with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

MIB = 1024 * 1024
#: Sessions whose full-context KV cache the memory estimate allows for.
KV_SESSIONS = 4
#: What the runner process needs besides weights and KV caches (interpreter, numpy, buffers), MB.
RUNTIME_MB = 64

Range = Tuple[int, int]


class SplitPlanningError(ValueError):
    """No assignment of layers to splits satisfies the request; the message says why, with the numbers."""


@dataclass(frozen=True)
class MemoryModel:
    """What a layer range needs resident, in bytes: ``layer_bytes[i]`` (weights of layer ``i`` as the runner holds
    them, float32), ``first_bytes`` (the embeddings, held by the split starting at 0), ``last_bytes`` (final norm
    and output projection, held by the split ending at the last layer; with tied embeddings the projection is the
    embeddings, counted once when one split holds both ends: ``shared_bytes``), ``kv_bytes_per_layer`` (the
    KV allowance of one layer: :data:`KV_SESSIONS` full-context sessions), ``common_bytes`` (held by every split)
    and ``runtime_mb``."""

    layer_bytes: Tuple[int, ...]
    first_bytes: int
    last_bytes: int
    kv_bytes_per_layer: int
    shared_bytes: int = 0
    #: Tensors every split holds (e.g. ``rope_freqs``).
    common_bytes: int = 0
    runtime_mb: int = RUNTIME_MB

    def __post_init__(self) -> None:
        prefix = [0]
        for b in self.layer_bytes:
            prefix.append(prefix[-1] + int(b))
        object.__setattr__(self, "_prefix", tuple(prefix))

    @property
    def n_layers(self) -> int:
        return len(self.layer_bytes)

    def range_bytes(self, start: int, end: int) -> int:
        if not 0 <= start < end <= self.n_layers:
            raise ValueError(f"bad layer range [{start}, {end}) for {self.n_layers} layers")
        prefix: Tuple[int, ...] = self._prefix  # type: ignore[attr-defined]
        total = prefix[end] - prefix[start] + self.kv_bytes_per_layer * (end - start) + self.common_bytes
        if start == 0:
            total += self.first_bytes
        if end == self.n_layers:
            total += self.last_bytes
            if start == 0:
                total -= self.shared_bytes
        return total

    def memory_mb(self, start: int, end: int) -> int:
        """``ceil(bytes of [start, end) / MiB + runtime_mb)``: the split's ``memoryMB``."""
        return int(math.ceil(self.range_bytes(start, end) / MIB + self.runtime_mb))


def kv_bytes_per_layer(n_kv_heads: int, head_dim: int, context_length: int, sessions: int = KV_SESSIONS) -> int:
    """K and V, float32, ``context_length`` positions, for ``sessions`` sessions: one layer's KV allowance."""
    return 2 * n_kv_heads * head_dim * context_length * 4 * sessions


def check_split_count(splits: Any, n_layers: int) -> int:
    if isinstance(splits, bool) or not isinstance(splits, int):
        raise SplitPlanningError(f"splits must be an integer, got {splits!r}")
    if not 1 <= splits <= n_layers:
        raise SplitPlanningError(f"splits must be 1 ... {n_layers} (the model's layers), got {splits}")
    return splits


def even_ranges(n_layers: int, splits: int) -> List[Range]:
    """``splits`` contiguous ranges covering ``[0, n_layers)`` with equal layer counts; the first
    ``n_layers % splits`` ranges get one layer more."""
    check_split_count(splits, n_layers)
    base, extra = divmod(n_layers, splits)
    out: List[Range] = []
    start = 0
    for i in range(splits):
        end = start + base + (1 if i < extra else 0)
        out.append((start, end))
        start = end
    return out


@dataclass(frozen=True)
class TargetNode:
    """A node a balanced split is sized for."""

    free_mb: float
    cluster_id: str = ""
    node_id: str = ""

    @property
    def label(self) -> str:
        name = "/".join(x for x in (self.cluster_id, self.node_id) if x)
        return name or "?"

    @classmethod
    def parse(cls, value: Any, index: int) -> "TargetNode":
        where = f"target_nodes[{index}]"
        if not isinstance(value, Mapping):
            raise SplitPlanningError(f"{where} must be an object {{\"clusterId\", \"nodeId\", \"freeMemoryMB\"}}")
        free = value.get("freeMemoryMB")
        if isinstance(free, bool) or not isinstance(free, (int, float)) or not math.isfinite(free) or free < 0:
            raise SplitPlanningError(f"{where}.freeMemoryMB must be a number >= 0, got {free!r}")
        cid, nid = value.get("clusterId", ""), value.get("nodeId", "")
        for key, text in (("clusterId", cid), ("nodeId", nid)):
            if not isinstance(text, str):
                raise SplitPlanningError(f"{where}.{key} must be a string, got {text!r}")
        return cls(free_mb=float(free), cluster_id=cid, node_id=nid or f"node-{index}")


def parse_target_nodes(value: Any) -> List[TargetNode]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SplitPlanningError(f"target_nodes must be a list, got {type(value).__name__}")
    return [TargetNode.parse(v, i) for i, v in enumerate(value)]


def _greedy(mem: MemoryModel, caps: Sequence[float]) -> Tuple[Optional[List[Range]], int, Range]:
    """Fill the splits in order, each with as many layers as fit ``caps[i]`` (leaving one layer per later
    split). Returns ``(ranges, -1, _)`` or ``(None, failing split, its smallest range)``."""
    n, k = mem.n_layers, len(caps)
    out: List[Range] = []
    start = 0
    for i in range(k):
        if i == k - 1:
            end = n
            if mem.memory_mb(start, end) > caps[i]:
                return None, i, (start, end)
        else:
            limit = n - (k - 1 - i)
            end = start
            while end < limit and mem.memory_mb(start, end + 1) <= caps[i]:
                end += 1
            if end == start:
                return None, i, (start, start + 1)
        out.append((start, end))
        start = end
    return out, -1, (0, 0)


def balanced_ranges(mem: MemoryModel, nodes: Sequence[TargetNode]) -> List[Range]:
    """One contiguous range per node, in node order, each split's ``memoryMB`` within its node's free memory
    and the nodes loaded as evenly as possible (in proportion to their free memory).

    The smallest load ratio ``r`` (0 < r <= 1) is searched for at which filling the splits greedily in node order,
    split ``i`` taking at most ``r * free_i``, places every layer. Greedy filling places every layer whenever any
    contiguous assignment does, so the search fails only when nothing fits: :class:`SplitPlanningError` then
    reports the total needed, each node's free memory and the split that could not be placed.
    """
    if not nodes:
        raise SplitPlanningError("balanced needs target nodes (target_nodes, or clusterId for the platform to read them)")
    check_split_count(len(nodes), mem.n_layers)
    frees = [n.free_mb for n in nodes]
    ranges, failed, failed_range = _greedy(mem, frees)
    if ranges is None:
        total = (mem.range_bytes(0, mem.n_layers) + mem.common_bytes * (len(nodes) - 1)) / MIB + mem.runtime_mb * len(nodes)
        node_list = ", ".join(f"{n.label} {n.free_mb:g} MB" for n in nodes)
        s, e = failed_range
        need = mem.memory_mb(s, e)
        if failed == len(nodes) - 1:
            what = f"split-{failed} (the rest, layers [{s}, {e})) needs {need} MB"
        else:
            what = f"split-{failed} needs {need} MB for even one layer (layers [{s}, {e}))"
        raise SplitPlanningError(
            f"balanced: no assignment of the {mem.n_layers} layers to {len(nodes)} splits fits the target nodes: "
            f"the model needs {math.ceil(total)} MB in all ({len(nodes)} x {mem.runtime_mb} MB runtime included); "
            f"free memory: {node_list}; the largest split that could not be placed: {what} but node "
            f"{nodes[failed].label} has {nodes[failed].free_mb:g} MB free")
    lo, hi = 0.0, 1.0
    best = ranges
    for _ in range(40):
        mid = (lo + hi) / 2
        attempt, _, _ = _greedy(mem, [mid * f for f in frees])
        if attempt is None:
            lo = mid
        else:
            hi, best = mid, attempt
    return best


def describe_ranges(mem: MemoryModel, ranges: Sequence[Range]) -> List[Dict[str, Any]]:
    return [{"layers": [s, e], "memoryMB": mem.memory_mb(s, e)} for s, e in ranges]


__all__ = [
    "KV_SESSIONS",
    "MIB",
    "MemoryModel",
    "RUNTIME_MB",
    "SplitPlanningError",
    "TargetNode",
    "balanced_ranges",
    "check_split_count",
    "even_ranges",
    "kv_bytes_per_layer",
    "parse_target_nodes",
]
