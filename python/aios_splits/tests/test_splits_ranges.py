"""Layer ranges: even, balanced (proportional, every split fits) and the infeasible report; the memory model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from aios_splits import MemoryModel, SplitPlanningError, TargetNode, balanced_ranges, even_ranges
from aios_splits.ranges import MIB, kv_bytes_per_layer, parse_target_nodes

MB = MIB


def _mem(n: int = 30, layer_mb: float = 20, first_mb: float = 100, last_mb: float = 100, kv_mb: float = 10,
         shared_mb: float = 0) -> MemoryModel:
    return MemoryModel(layer_bytes=tuple(int(layer_mb * MB) for _ in range(n)), first_bytes=int(first_mb * MB),
                       last_bytes=int(last_mb * MB), kv_bytes_per_layer=int(kv_mb * MB), shared_bytes=int(shared_mb * MB))


def _covers(ranges, n: int) -> bool:
    return ranges[0][0] == 0 and ranges[-1][1] == n and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:])) and \
        all(s < e for s, e in ranges)


def test_even_ranges() -> None:
    assert even_ranges(30, 3) == [(0, 10), (10, 20), (20, 30)]
    assert even_ranges(30, 4) == [(0, 8), (8, 16), (16, 23), (23, 30)]  # the first splits get the extra layers
    assert even_ranges(5, 5) == [(i, i + 1) for i in range(5)]
    assert even_ranges(1, 1) == [(0, 1)]
    assert even_ranges(30, 1) == [(0, 30)]
    for bad in (0, 31, -1):
        with pytest.raises(SplitPlanningError, match=r"splits must be 1 \.\.\. 30"):
            even_ranges(30, bad)
    with pytest.raises(SplitPlanningError, match="must be an integer"):
        even_ranges(30, True)


def test_memory_model() -> None:
    mem = _mem(n=4, layer_mb=10, first_mb=50, last_mb=60, kv_mb=5, shared_mb=40)
    assert mem.memory_mb(1, 3) == 2 * 15 + 64
    assert mem.memory_mb(0, 2) == 2 * 15 + 50 + 64
    assert mem.memory_mb(2, 4) == 2 * 15 + 60 + 64
    assert mem.memory_mb(0, 4) == 4 * 15 + 50 + 60 - 40 + 64  # tied embeddings held once by a whole-model split
    assert MemoryModel((MB + 1,), 0, 0, 0).memory_mb(0, 1) == 66  # rounded up
    assert kv_bytes_per_layer(3, 64, 8192) == 2 * 3 * 64 * 8192 * 4 * 4
    with pytest.raises(ValueError):
        mem.range_bytes(2, 2)


def test_balanced_is_proportional_to_free_memory_and_fits() -> None:
    mem = _mem()
    nodes = [TargetNode(2000, "c", "big"), TargetNode(1000, "c", "a"), TargetNode(1000, "c", "b")]
    ranges = balanced_ranges(mem, nodes)
    assert _covers(ranges, 30)
    sizes = [e - s for s, e in ranges]
    assert sizes[0] > sizes[1] and sizes[0] > sizes[2]
    loads = [mem.memory_mb(s, e) / n.free_mb for (s, e), n in zip(ranges, nodes)]
    assert all(load <= 1 for load in loads)
    assert max(loads) - min(loads) < 0.15, loads  # evenly loaded
    # Equal nodes: equal memory (the middle split, without embeddings or head, gets more layers).
    ranges = balanced_ranges(mem, [TargetNode(4000)] * 3)
    assert ranges == [(0, 9), (9, 21), (21, 30)]
    assert [mem.memory_mb(s, e) for s, e in ranges] == [434, 424, 434]
    # One node: the whole model.
    assert balanced_ranges(mem, [TargetNode(5000)]) == [(0, 30)]


def test_balanced_gives_a_small_node_few_layers() -> None:
    mem = _mem()
    nodes = [TargetNode(250, "c", "tiny"), TargetNode(10_000, "c", "huge")]
    (a, b), (c, d) = balanced_ranges(mem, nodes)
    assert (a, d) == (0, 30) and b == c
    assert mem.memory_mb(a, b) <= 250 and mem.memory_mb(c, d) <= 10_000


def test_balanced_infeasible_reports_totals_nodes_and_the_split() -> None:
    mem = _mem()
    nodes = [TargetNode(500, "c1", "n1"), TargetNode(400, "c1", "n2")]
    with pytest.raises(SplitPlanningError) as info:
        balanced_ranges(mem, nodes)
    msg = str(info.value)
    total = math.ceil(30 * 30 + 200 + 2 * 64)
    assert f"the model needs {total} MB in all" in msg
    assert "free memory: c1/n1 500 MB, c1/n2 400 MB" in msg
    assert "the largest split that could not be placed: split-1 (the rest, layers [11, 30)) needs 734 MB but node " \
           "c1/n2 has 400 MB free" in msg

    with pytest.raises(SplitPlanningError, match=r"split-0 needs 194 MB for even one layer \(layers \[0, 1\)\) but "
                                                 r"node c1/n1 has 100 MB free"):
        balanced_ranges(mem, [TargetNode(100, "c1", "n1"), TargetNode(10_000, "c1", "n2")])
    with pytest.raises(SplitPlanningError, match="needs target nodes"):
        balanced_ranges(mem, [])
    with pytest.raises(SplitPlanningError, match=r"splits must be 1 \.\.\. 2"):
        balanced_ranges(_mem(n=2), [TargetNode(1e6)] * 3)


def test_target_nodes_parsing() -> None:
    nodes = parse_target_nodes([{"clusterId": "c", "nodeId": "n", "freeMemoryMB": 10}, {"freeMemoryMB": 2.5}])
    assert nodes == [TargetNode(10.0, "c", "n"), TargetNode(2.5, "", "node-1")]
    for bad, msg in (([{"nodeId": "n"}], r"target_nodes\[0\]\.freeMemoryMB must be a number >= 0, got None"),
                     ([{"freeMemoryMB": -1}], "got -1"), (["x"], r"target_nodes\[0\] must be an object"),
                     ({"a": 1}, "target_nodes must be a list"),
                     ([{"freeMemoryMB": 1, "clusterId": 3}], r"target_nodes\[0\]\.clusterId must be a string")):
        with pytest.raises(SplitPlanningError, match=msg):
            parse_target_nodes(bad)


def test_plan_ranges_options(tmp_path: Path) -> None:
    pytest.importorskip("gguf")
    from aios_splits.layer_range import Options, SplitterInputError, plan_ranges

    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    mem = _mem()
    nodes = [{"nodeId": f"n{i}", "freeMemoryMB": f} for i, f in enumerate([900, 3000, 2000, 800])]
    logs = []
    opts = Options.parse({"model": str(model), "strategy": "balanced", "target_nodes": nodes, "splits": 2})
    ranges = plan_ranges(opts, mem, logs.append)
    assert _covers(ranges, 30) and len(ranges) == 2
    assert "using the 2 with the most free memory: n1, n2" in logs[0]
    assert len(plan_ranges(Options.parse({"model": str(model), "strategy": "balanced", "target_nodes": nodes}), mem)) == 4
    with pytest.raises(SplitterInputError, match="5 splits but only 4 target nodes"):
        plan_ranges(Options.parse({"model": str(model), "strategy": "balanced", "target_nodes": nodes, "splits": 5}), mem)
    with pytest.raises(SplitterInputError, match="strategy balanced needs target_nodes"):
        plan_ranges(Options.parse({"model": str(model), "strategy": "balanced", "splits": 2}), mem)
    logs.clear()
    tight = [{"nodeId": "a", "freeMemoryMB": 300}, {"nodeId": "b", "freeMemoryMB": 5000}]
    assert plan_ranges(Options.parse({"model": str(model), "target_nodes": tight}), mem, logs.append) == \
        [(0, 15), (15, 30)]
    assert logs == ["warning: split-0 (layers [0, 15)) needs 614 MB, more than the 300 MB free on a (strategy "
                    "balanced sizes splits for the nodes)"]
    for data, msg in (({}, "TASK_DATA.model is required"), ({"model": str(tmp_path / "nope")}, "is not an existing"),
                      ({"model": str(model)}, "TASK_DATA.splits is required"),
                      ({"model": str(model), "splits": "3"}, "TASK_DATA.splits must be an integer"),
                      ({"model": str(model), "splits": 2, "strategy": "random"}, "strategy must be one of even, balanced"),
                      ({"model": str(model), "splits": 2, "gpus": [1]}, "gpus has 1 entries for 2 splits"),
                      ({"model": str(model), "splits": 2, "gpus": -1}, "gpus must be an integer >= 0"),
                      ({"model": str(model), "splits": 2, "clusterId": ""}, "clusterId must be a non-empty string"),
                      ({"model": str(model), "splits": 2, "target_nodes": [{}]}, r"TASK_DATA\.target_nodes\[0\]")):
        with pytest.raises(SplitterInputError, match=msg):
            Options.parse(data)
    opts = Options.parse({"model": str(model), "splits": 2, "splitter": "layer-range", "timeout_s": 5, "extra": 1})
    assert opts.ignored == ["extra"] and opts.strategy == "even" and opts.gpus == 0 and opts.cluster_id is None
