"""The built-in ``layer-range`` splitter: cuts a GGUF model into contiguous ranges of decoder layers.

Run by the platform as ``python -m aios_splits.layer_range`` with ``TASK_ID``, ``TASK_DATA`` and
``AIOS_SPLIT_OUTPUT_DIR`` set (docs/model-plan.md §2). ``TASK_DATA`` keys:

=================  =========================================================================================
``model``          path of the GGUF file (required)
``splits``         number of splits, 1 ... layers (default: the number of ``target_nodes``)
``strategy``       ``even`` (default: equal layer counts, the first splits get the extra layers) or
                   ``balanced`` (each split sized for its target node, in proportion to its free memory)
``target_nodes``   ``[{"clusterId", "nodeId", "freeMemoryMB"}]`` (default ``[]``; ``balanced`` needs them)
``clusterId``      pins every block to this cluster (a ``clusterAllocator`` rule); default: no pin
``gpus``           GPUs per split block: one integer, or one per split (default 0: host memory)
``runner``         component URI of the split runner (default ``model.smollm2-split:0.1.0-stable``)
``name``           base of the block ids and the vDAG name (default: the GGUF file's name up to its first ``.``, lowercased)
=================  =========================================================================================

``splitter`` and ``timeout_s`` (the platform's) are accepted and ignored; other keys are logged and ignored.

Each split's artifact ``split-<i>.gguf`` is a valid GGUF **subset** of the model: every metadata key copied
unchanged (the tokenizer included, so the first and the last split can tokenize) and only the split's tensors,
their bytes copied as they are (same types, same quantization). ``blk.<i>.*`` go to the split holding layer
``i`` (layer numbers unchanged), ``token_embd.*`` to the first split, ``output_norm.*`` and ``output.*`` to the
last; without ``output.weight`` (embeddings tied to the output projection) the last split gets
``token_embd.weight`` as well. Any other tensor (e.g. ``rope_freqs.weight``) goes to every split.

``memoryMB`` of a split = ceil(its weights as float32, as ``llama_numpy`` holds them (``n_elements * 4``), plus
the KV allowance of 4 full-context sessions of its layers (``2 * n_kv_heads * head_dim * context_length * 4``
bytes per layer per session), in MiB, plus 64 MB runtime).

``gguf`` and ``numpy`` are imported here only (``pip install gguf==0.19.0 numpy``); the rest of the SDK needs
the standard library alone.
"""

from __future__ import annotations

import collections
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .context import ArtifactRef, SplitContext, file_digest
from .plan import DEFAULT_RUNNER, ModelInfo, PlannedSplit, build_plan
from .ranges import (
    MemoryModel,
    Range,
    SplitPlanningError,
    TargetNode,
    balanced_ranges,
    check_split_count,
    describe_ranges,
    even_ranges,
    kv_bytes_per_layer,
    parse_target_nodes,
)
from .runner import execute_model_splitter

SPLITTER_NAME = "layer-range"
STRATEGIES = ("even", "balanced")
KNOWN_KEYS = {"model", "splits", "strategy", "target_nodes", "clusterId", "gpus", "runner", "name", "splitter",
              "timeout_s"}
_BLOCK_TENSOR = re.compile(r"^blk\.(\d+)\.")


class SplitterInputError(ValueError):
    """TASK_DATA or the model file is unusable; the message names the key or the file."""


# ------------------------------------------------------------------------------------------------ options


@dataclass
class Options:
    model: Path
    splits: Optional[int]
    strategy: str
    target_nodes: List[TargetNode]
    cluster_id: Optional[str]
    gpus: Union[int, List[int]]
    runner: str
    name: Optional[str]
    ignored: List[str]

    @classmethod
    def parse(cls, data: Dict[str, Any]) -> "Options":
        model = data.get("model")
        if not isinstance(model, str) or not model.strip():
            raise SplitterInputError("TASK_DATA.model is required: the path of the GGUF file to split")
        path = Path(model).expanduser()
        if not path.is_file():
            raise SplitterInputError(f"TASK_DATA.model: {model!r} is not an existing file")
        try:
            nodes = parse_target_nodes(data.get("target_nodes"))
        except SplitPlanningError as e:
            raise SplitterInputError(f"TASK_DATA.{e}") from None
        splits = data.get("splits")
        if splits is None:
            splits = len(nodes) if nodes else None
        elif isinstance(splits, bool) or not isinstance(splits, int):
            raise SplitterInputError(f"TASK_DATA.splits must be an integer, got {splits!r}")
        if splits is None:
            raise SplitterInputError("TASK_DATA.splits is required (or target_nodes: one split per node)")
        strategy = data.get("strategy") or "even"
        if strategy not in STRATEGIES:
            raise SplitterInputError(f"TASK_DATA.strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        cluster_id = data.get("clusterId")
        if cluster_id is not None and (not isinstance(cluster_id, str) or not cluster_id):
            raise SplitterInputError(f"TASK_DATA.clusterId must be a non-empty string, got {cluster_id!r}")
        gpus = data.get("gpus", 0)
        if isinstance(gpus, list):
            if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in gpus):
                raise SplitterInputError(f"TASK_DATA.gpus must be integers >= 0, got {gpus!r}")
            if len(gpus) != splits:
                raise SplitterInputError(f"TASK_DATA.gpus has {len(gpus)} entries for {splits} splits")
        elif isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
            raise SplitterInputError(f"TASK_DATA.gpus must be an integer >= 0 or one per split, got {gpus!r}")
        runner = data.get("runner") or DEFAULT_RUNNER
        if not isinstance(runner, str):
            raise SplitterInputError(f"TASK_DATA.runner must be a component URI string, got {runner!r}")
        name = data.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise SplitterInputError(f"TASK_DATA.name must be a non-empty string, got {name!r}")
        return cls(model=path.resolve(), splits=splits, strategy=strategy, target_nodes=nodes, cluster_id=cluster_id,
                   gpus=gpus, runner=runner, name=name, ignored=sorted(k for k in data if k not in KNOWN_KEYS))


# ------------------------------------------------------------------------------------------------ GGUF


def open_reader(path: Union[str, os.PathLike]) -> Any:
    """``gguf.GGUFReader(path)``, parsed about 3x faster when the reader's internals are the known ones.

    Most of the stock reader's time goes to ~100k tiny slices of its ``np.memmap`` (the tokenizer's vocabulary
    and merges). The subclass slices a plain-ndarray view of the same mapping instead (same bytes, same fields
    and tensors); it is used only while ``GGUFReader._get`` has the signature it replaces (as in gguf 0.19.0),
    otherwise the stock reader is. ``examples/llm-split/llama_numpy.py`` reads GGUFs through it too.
    """
    import inspect

    import gguf
    import numpy as np

    base = gguf.GGUFReader
    try:
        params = list(inspect.signature(base._get).parameters)
    except (AttributeError, TypeError, ValueError):
        params = []
    if params != ["self", "offset", "dtype", "count", "override_order"]:
        return base(path, "r")

    class _PlainViewReader(base):  # type: ignore[misc, valid-type]
        def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
            plain = self.__dict__.get("_plain_view")
            if plain is None:
                plain = self.__dict__["_plain_view"] = self.data.view(np.ndarray)
            count = int(count)
            dt = np.dtype(dtype)
            arr = plain[offset: offset + dt.itemsize * count].view(dt)[:count]
            return arr.view(arr.dtype.newbyteorder(self.byte_order if override_order is None else override_order))

    return _PlainViewReader(path, "r")


def _field(reader: Any, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return default
    value = f.contents()
    return default if value is None else value


@dataclass
class GGUFModel:
    """What the splitter needs from a GGUF: metadata, tensors by name, where each tensor goes."""

    path: Path
    reader: Any
    name: str
    architecture: str
    n_layers: int
    dtype: str
    layer_tensors: List[List[Any]]
    first_tensors: List[Any]
    last_tensors: List[Any]
    common_tensors: List[Any]
    memory: MemoryModel
    tied: bool

    @classmethod
    def read(cls, path: Path) -> "GGUFModel":
        try:
            reader = open_reader(path)
        except Exception as e:  # noqa: BLE001 - name the file whatever the reader's complaint
            raise SplitterInputError(f"{path}: not a readable GGUF file: {type(e).__name__}: {e}") from e
        arch = _field(reader, "general.architecture")
        if not isinstance(arch, str) or not arch:
            raise SplitterInputError(f"{path}: no general.architecture in the GGUF metadata")
        n_layers = _field(reader, f"{arch}.block_count")
        if not isinstance(n_layers, int) or n_layers < 1:
            raise SplitterInputError(f"{path}: {arch}.block_count is {n_layers!r}, expected an integer >= 1")
        # The file's name says which model it is ("SmolLM2-135M-Instruct.Q4_1.gguf"); general.name is often a
        # training-run label ("Smollm2 135M 8k Lc100K Mix1 Ep2").
        name = path.name.split(".")[0] or _field(reader, "general.name") or path.stem
        tensors = list(reader.tensors)
        by_name = {t.name: t for t in tensors}
        layer_tensors: List[List[Any]] = [[] for _ in range(n_layers)]
        first: List[Any] = []
        last: List[Any] = []
        common: List[Any] = []
        for t in tensors:
            m = _BLOCK_TENSOR.match(t.name)
            if m:
                i = int(m.group(1))
                if i >= n_layers:
                    raise SplitterInputError(f"{path}: tensor {t.name} is past {arch}.block_count = {n_layers}")
                layer_tensors[i].append(t)
            elif t.name.startswith("token_embd."):
                first.append(t)
            elif t.name.startswith("output_norm.") or t.name.startswith("output."):
                last.append(t)
            else:
                common.append(t)
        tied = "output.weight" not in by_name
        shared = 0
        if tied:
            embd = by_name.get("token_embd.weight")
            if embd is None:
                raise SplitterInputError(f"{path}: neither output.weight nor token_embd.weight: no output projection")
            last.append(embd)
            shared = int(embd.n_elements) * 4
        empty = [i for i, ts in enumerate(layer_tensors) if not ts]
        if empty:
            raise SplitterInputError(f"{path}: no tensors for layer(s) {empty[:8]} of {n_layers}")

        def f32_bytes(ts: Sequence[Any]) -> int:
            return sum(int(t.n_elements) * 4 for t in ts)

        n_heads = _field(reader, f"{arch}.attention.head_count")
        d_model = _field(reader, f"{arch}.embedding_length")
        n_kv = _field(reader, f"{arch}.attention.head_count_kv", n_heads)
        head_dim = _field(reader, f"{arch}.attention.key_length")
        if head_dim is None and isinstance(d_model, int) and isinstance(n_heads, int) and n_heads > 0:
            head_dim = d_model // n_heads
        ctx = _field(reader, f"{arch}.context_length")
        for key, value in (("attention.head_count_kv", n_kv), ("attention.key_length (or embedding_length / "
                           "head_count)", head_dim), ("context_length", ctx)):
            if not isinstance(value, int) or value < 1:
                raise SplitterInputError(f"{path}: {arch}.{key} is {value!r}: cannot size the KV caches")
        memory = MemoryModel(
            layer_bytes=tuple(f32_bytes(ts) for ts in layer_tensors),
            first_bytes=f32_bytes(first),
            last_bytes=f32_bytes(last),
            kv_bytes_per_layer=kv_bytes_per_layer(n_kv, head_dim, ctx),
            shared_bytes=shared,
            common_bytes=f32_bytes(common),
        )
        return cls(path=path, reader=reader, name=str(name), architecture=arch, n_layers=n_layers,
                   dtype=_dtype_name(reader), layer_tensors=layer_tensors, first_tensors=first, last_tensors=last,
                   common_tensors=common, memory=memory, tied=tied)

    def tensors_for(self, start: int, end: int) -> List[Any]:
        """The tensors of the split ``[start, end)``, in the file's order."""
        wanted = {id(t) for t in self.common_tensors}
        for i in range(start, end):
            wanted.update(id(t) for t in self.layer_tensors[i])
        if start == 0:
            wanted.update(id(t) for t in self.first_tensors)
        if end == self.n_layers:
            wanted.update(id(t) for t in self.last_tensors)
        return [t for t in self.reader.tensors if id(t) in wanted]

    def write_subset(self, target: Path, tensors: Sequence[Any]) -> None:
        """A GGUF at ``target`` with every metadata key of the model and only ``tensors`` (bytes copied raw).

        The same public API as gguf-py's ``gguf_new_metadata.py``: fields re-added with their types, tensor
        infos from the raw data's byte shape and type, then header, KV data, tensor infos and the data.
        """
        import gguf

        reader = self.reader
        writer = gguf.GGUFWriter(str(target), arch=self.architecture, endianess=reader.endianess)
        alignment = _field(reader, gguf.Keys.General.ALIGNMENT)
        if alignment is not None:
            writer.data_alignment = alignment
        try:
            for field in reader.fields.values():
                if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
                    continue  # written by GGUFWriter itself
                val_type = field.types[0]
                sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
                writer.add_key_value(field.name, field.contents(), val_type, sub_type=sub_type)
            for t in tensors:
                writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            for t in tensors:
                writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
        finally:
            writer.close()


def _dtype_name(reader: Any) -> str:
    """The file type (``general.file_type``: ``MOSTLY_Q4_1`` -> ``Q4_1``), else the most common tensor type."""
    import gguf

    ftype = _field(reader, "general.file_type")
    if isinstance(ftype, int):
        try:
            name = gguf.LlamaFileType(ftype).name
        except ValueError:
            name = ""
        for prefix in ("MOSTLY_", "ALL_"):
            if name.startswith(prefix):
                return name[len(prefix):]
    counts = collections.Counter(t.tensor_type.name for t in reader.tensors)
    return counts.most_common(1)[0][0] if counts else "unknown"


# ------------------------------------------------------------------------------------------------ splitter


def plan_ranges(options: Options, memory: MemoryModel, log: Any = None) -> List[Range]:
    """The layer ranges for ``options`` over a model measured by ``memory`` (see the module docstring)."""
    n_layers = memory.n_layers
    assert options.splits is not None
    try:
        splits = check_split_count(options.splits, n_layers)
        if options.strategy == "even":
            ranges = even_ranges(n_layers, splits)
            if options.target_nodes and len(options.target_nodes) == splits and log is not None:
                for i, ((s, e), node) in enumerate(zip(ranges, options.target_nodes)):
                    need = memory.memory_mb(s, e)
                    if need > node.free_mb:
                        log(f"warning: split-{i} (layers [{s}, {e})) needs {need} MB, more than the "
                            f"{node.free_mb:g} MB free on {node.label} (strategy balanced sizes splits for the nodes)")
            return ranges
        nodes = list(options.target_nodes)
        if not nodes:
            raise SplitPlanningError("strategy balanced needs target_nodes (or clusterId, for the platform to read "
                                     "them from the cluster's metrics); none were given")
        if splits > len(nodes):
            raise SplitPlanningError(f"strategy balanced: {splits} splits but only {len(nodes)} target nodes "
                                     "(one split per node)")
        if splits < len(nodes):
            keep = sorted(range(len(nodes)), key=lambda i: (-nodes[i].free_mb, i))[:splits]
            nodes = [nodes[i] for i in sorted(keep)]
            if log is not None:
                log(f"balanced: {splits} splits for {len(options.target_nodes)} target nodes: using the {splits} "
                    f"with the most free memory: {', '.join(n.label for n in nodes)}")
        return balanced_ranges(memory, nodes)
    except SplitPlanningError as e:
        raise SplitterInputError(str(e)) from None


class LayerRangeSplitter:
    """``begin``: read TASK_DATA and the GGUF, choose the ranges; ``main``: write one subset GGUF per split;
    ``finish``: hash the model and return the plan."""

    def __init__(self, context: SplitContext) -> None:
        self.context = context
        self.options: Optional[Options] = None
        self.model: Optional[GGUFModel] = None
        self.ranges: List[Range] = []

    def begin(self) -> Tuple[bool, Any]:
        ctx = self.context
        self.options = options = Options.parse(ctx.task_data)
        if options.ignored:
            ctx.log(f"ignoring unknown TASK_DATA keys: {options.ignored}")
        ctx.progress(0.0, f"reading {options.model.name}")
        t0 = time.perf_counter()
        self.model = model = GGUFModel.read(options.model)
        ctx.log(f"{model.path}: {model.name!r}, {model.architecture}, {model.n_layers} layers, {model.dtype}, "
                f"{len(model.reader.tensors)} tensors (read in {time.perf_counter() - t0:.2f} s)")
        self.ranges = plan_ranges(options, model.memory, ctx.log)
        desc = describe_ranges(model.memory, self.ranges)
        ctx.log(f"strategy {options.strategy}: {desc}")
        ctx.progress(0.05, f"{len(self.ranges)} splits ({options.strategy}): "
                           + ", ".join(f"[{s}, {e})" for s, e in self.ranges))
        return True, None

    def main(self, extra: Any) -> Tuple[bool, Any]:
        ctx, model = self.context, self.model
        assert model is not None
        refs: List[ArtifactRef] = []
        k = len(self.ranges)
        for i, (s, e) in enumerate(self.ranges):
            name = f"split-{i}.gguf"
            tensors = model.tensors_for(s, e)
            t0 = time.perf_counter()
            model.write_subset(ctx.artifact_path(name), tensors)
            ref = ctx.add_artifact(name)
            refs.append(ref)
            ctx.log(f"split-{i}: layers [{s}, {e}), {len(tensors)} tensors, {ref.size} bytes, sha256 {ref.sha256} "
                    f"({time.perf_counter() - t0:.2f} s)")
            ctx.progress(0.05 + 0.85 * (i + 1) / k, f"wrote split-{i} (layers {s}-{e})")
        return True, refs

    def finish(self, refs: List[ArtifactRef]) -> Tuple[bool, Any]:
        ctx, options, model = self.context, self.options, self.model
        assert options is not None and model is not None
        ctx.progress(0.92, f"hashing {model.path.name}")
        sha, size = file_digest(model.path)
        info = ModelInfo(name=model.name, architecture=model.architecture, layers=model.n_layers, dtype=model.dtype,
                         source=str(model.path), sha256=sha, size=size)
        splits = [PlannedSplit(split_id=f"split-{i}", layers=(s, e), artifact=ref, memory_mb=model.memory.memory_mb(s, e))
                  for i, ((s, e), ref) in enumerate(zip(self.ranges, refs))]
        plan = build_plan(model=info, splitter={"name": SPLITTER_NAME, "strategy": options.strategy}, splits=splits,
                          runner=options.runner, base_name=options.name or model.name.lower(), task_id=ctx.task_id,
                          gpus=options.gpus, cluster_id=options.cluster_id)
        ctx.emit_plan(plan)
        ctx.progress(1.0, f"plan written: {len(splits)} splits")
        return True, plan


def main() -> None:
    execute_model_splitter(LayerRangeSplitter)


if __name__ == "__main__":
    # Run the module's own import (not this ``__main__`` copy), so errors name aios_splits.layer_range's classes.
    from aios_splits.layer_range import main as _main

    _main()
