"""Payloads that are not strict JSON are reported as their str()."""

import os

from aios_init import execute_init_container


class Opaque:
    def __str__(self) -> str:
        return "<Opaque handle 42>"

    def __repr__(self) -> str:
        return "Opaque(42)"


class UnserialisableInit:
    def __init__(self, context):
        self.context = context

    def begin(self):
        return True, Opaque()

    def main(self):
        return True, float("nan")

    def finish(self):
        if os.environ.get("FAIL_FINISH"):
            return False, Opaque()
        return True, {"handle": Opaque(), "ok": 1}


if __name__ == "__main__":
    execute_init_container(UnserialisableInit)
