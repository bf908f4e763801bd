"""FAIL_STAGE=<stage> returns (False, ...) there; RAISE_STAGE=<stage> raises there; BAD_RETURN=<stage> returns
a bare value there; EXIT_STAGE=<stage> calls sys.exit(0) there. Prints 'RAN <stage>' when a stage runs."""

import os
import sys

from aios_init import execute_init_container


def _connect(url: str) -> None:
    raise ConnectionError(f"cannot reach {url}")


def _deploy() -> None:
    _connect("http://127.0.0.1:9")


class FailingInit:
    def __init__(self, context):
        self.context = context

    def _run(self, stage):
        print(f"RAN {stage}", flush=True)
        if os.environ.get("FAIL_STAGE") == stage:
            return False, {"reason": f"{stage} refused", "code": 7}
        if os.environ.get("RAISE_STAGE") == stage:
            _deploy()
        if os.environ.get("BAD_RETURN") == stage:
            return None
        if os.environ.get("EXIT_STAGE") == stage:
            sys.exit(0)
        return True, stage

    def begin(self):
        return self._run("begin")

    def main(self):
        return self._run("main")

    def finish(self):
        return self._run("finish")


if __name__ == "__main__":
    execute_init_container(FailingInit)
