"""A complete splitter on the SDK: N_SPLITS (default 2) splits of a 4-layer fake model, each artifact written a
different way (bytes, a copied file, artifact_path + add_artifact); finish returns the plan (the SDK emits it).
GPUS / CLUSTER are passed to build_plan. Prints user output without a trailing newline before each stage line."""

import json
import os
import sys

from aios_splits import PlannedSplit, SplitContext, build_plan, execute_model_splitter


class EchoSplitter:
    def __init__(self, context: SplitContext):
        self.context = context
        self.n = int(os.environ.get("N_SPLITS", "2"))

    def begin(self):
        print("user output without a trailing newline", end="")
        print("to stderr", file=sys.stderr)
        return True, {"task": self.context.task_id, "data": self.context.task_data}

    def main(self, extra):
        assert extra["task"] == self.context.task_id
        ctx = self.context
        refs = []
        for i in range(self.n):
            name = f"split-{i}.bin"
            payload = f"split {i} of {self.n}: {json.dumps(extra['data'])}".encode()
            if i % 3 == 0:
                refs.append(ctx.write_artifact(name, payload))
            elif i % 3 == 1:
                src = ctx.output_dir.parent / f"source-{i}.bin"
                src.write_bytes(payload)
                refs.append(ctx.write_artifact(name, str(src)))
            else:
                ctx.artifact_path(name).write_bytes(payload)
                refs.append(ctx.add_artifact(name))
            ctx.progress((i + 1) / self.n, f"wrote split-{i}")
            print("partial line", end="")
        return True, refs

    def finish(self, refs):
        layers = 4
        bounds = [round(i * layers / self.n) for i in range(self.n + 1)]
        splits = [PlannedSplit(f"split-{i}", (bounds[i], bounds[i + 1]), ref, 100 + i) for i, ref in enumerate(refs)]
        gpus = int(os.environ.get("GPUS", "0"))
        plan = build_plan(model={"name": "Tiny", "architecture": "llama", "layers": layers, "dtype": "F32"},
                          splitter={"name": "echo"}, splits=splits, base_name="Tiny Model",
                          task_id=self.context.task_id, gpus=gpus, cluster_id=os.environ.get("CLUSTER") or None)
        return True, plan


if __name__ == "__main__":
    execute_model_splitter(EchoSplitter)
