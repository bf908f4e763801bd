"""Succeeds; finish returns what the context saw. Prints to stdout and stderr around the stage lines."""

import sys

from aios_init import InitContext, execute_init_container


class EchoInit:
    def __init__(self, context: InitContext) -> None:
        self.context = context

    def begin(self):
        self.context.log("begin called")
        print("user output without a trailing newline", end="")
        return True, {"stage": "begin"}

    def main(self):
        print("user output from main")
        print("to stderr", file=sys.stderr)
        return True, None

    def finish(self):
        c = self.context
        return True, {
            "mode": c.mode,
            "block_id": c.block_id,
            "cluster_id": c.cluster_id,
            "allocation": c.allocation,
            "cluster": c.cluster,
            "block_init_data": c.block_init_data,
            "init_settings": c.init_settings,
            "parameters": c.parameters,
            "block_data_keys": sorted(c.block_data),
            "state_dir": str(c.state_dir),
            "state_dir_exists": c.state_dir.is_dir(),
            "create_result": c.create_result,
            "server_url": "http://127.0.0.1:8080",
        }


if __name__ == "__main__":
    execute_init_container(EchoInit)
