"""An AIOS-style class: the five-argument constructor (CTOR=varargs: a subclass whose constructor is
``__init__(self, *args, **kwargs)`` forwarding to it, as AIOS code often has)."""

import os

from aios_init import execute_init_container


class AIOSInit:
    def __init__(self, envs, block_data, cluster_data, k8s, operating_mode):
        self.envs = envs
        self.block_data = block_data
        self.cluster_data = cluster_data
        self.k8s = k8s
        self.operating_mode = operating_mode

    def begin(self):
        return True, None

    def main(self):
        return True, None

    def finish(self):
        return True, {
            "envs": self.envs,
            "block_id_from_data": self.block_data.get("blockId"),
            "cluster_data": self.cluster_data,
            "k8s": self.k8s,
            "operating_mode": self.operating_mode,
        }


class ForwardingInit(AIOSInit):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)


if __name__ == "__main__":
    execute_init_container(ForwardingInit if os.environ.get("CTOR") == "varargs" else AIOSInit)
