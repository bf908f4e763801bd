"""A block for the process-level tests: reports its context, sleeps on request, can fail to start."""

import json
import logging
import os
import time

from aios_instance import Block, OnDataResult, PreProcessResult

log = logging.getLogger("lifecycle_block")


class LifecycleBlock:
    def __init__(self, context):
        self.context = context
        if context.block_init_data.get("fail_in_init"):
            raise RuntimeError("model weights not found at /nowhere")
        log.info("constructed for %s", context.block_id)

    def on_preprocess(self, packet):
        return True, [PreProcessResult(packet, json.loads(packet.data))]

    def on_data(self, entry):
        time.sleep(entry.extra_data.get("sleep", 0))
        return True, OnDataResult(output={"slept": entry.extra_data.get("sleep", 0)})

    def management(self, action, data):
        c = self.context
        return {
            "block_id": c.block_id,
            "instance_id": c.instance_id,
            "allocation_info": c.allocation_info,
            "block_init_data": c.block_init_data,
            "block_init_settings": c.block_init_settings,
            "block_init_parameters": c.block_init_parameters,
            "simulated": c.simulated,
            "component_uri": c.component_uri,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }


if __name__ == "__main__":
    Block(LifecycleBlock).run()
