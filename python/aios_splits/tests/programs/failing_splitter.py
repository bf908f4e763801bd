"""FAIL_STAGE=<stage> returns (False, ...) there; RAISE_STAGE=<stage> raises there; BAD_RETURN=<stage> returns a
bare value there; EXIT_STAGE=<stage> calls sys.exit(0) there; BAD_NAME=<name> writes an artifact of that name
in main; FINISH=none|gap|emit-bad decides what finish returns. Prints 'RAN <stage>' when a stage runs."""

import os
import sys

from aios_splits import build_plan, execute_model_splitter


def _connect(url):
    raise ConnectionError(f"cannot reach {url}")


def _read_model():
    _connect("http://127.0.0.1:9/model.gguf")


class FailingSplitter:
    def __init__(self, context):
        self.context = context

    def _run(self, stage, value):
        print(f"RAN {stage}", flush=True)
        if os.environ.get("FAIL_STAGE") == stage:
            return False, f"{stage} refused: not enough memory"
        if os.environ.get("RAISE_STAGE") == stage:
            _read_model()
        if os.environ.get("BAD_RETURN") == stage:
            return None
        if os.environ.get("EXIT_STAGE") == stage:
            sys.exit(0)
        return True, value

    def begin(self):
        return self._run("begin", 1)

    def main(self, extra):
        assert extra == 1
        if os.environ.get("BAD_NAME") is not None:
            self.context.write_artifact(os.environ["BAD_NAME"], b"x")
        ref = self.context.write_artifact("a.bin", b"artifact")
        return self._run("main", ref)

    def finish(self, ref):
        ok, value = self._run("finish", ref)
        if not ok or value is None:
            return ok, value
        kind = os.environ.get("FINISH", "plan")
        if kind == "none":
            return True, {"not": "a plan"}
        layers = [1, 4] if kind == "gap" else [0, 4]
        plan = build_plan(model={"name": "m", "architecture": "llama", "layers": 4, "dtype": "F32"},
                          splitter={"name": "failing"},
                          splits=[{"splitId": "split-0", "layers": layers, "artifact": ref, "memoryMB": 10}],
                          base_name="m", task_id=self.context.task_id)
        if kind == "badsha":
            plan["splits"][0]["artifact"]["sha256"] = "0" * 64
        return True, plan


if __name__ == "__main__":
    execute_model_splitter(FailingSplitter)
