"""autoscaler: keep a per-instance metric near a target.

input {"block_data", "cluster_data", "current_instances": [ids]} and, for this example, the metric
values in block_data["metrics"] ({instance_id: {metric: value}}), or input_data["metrics"].
parameters: metric (default "queue_length"), target_per_instance (default 10),
            scale_down_below (fraction of target, default 0.3).
Bounds come from block_data["minInstances"]/["maxInstances"] (the platform enforces them too).
-> {"skip": true} | {"skip": false, "operation": "upscale", "instances_count": n}
   | {"skip": false, "operation": "downscale", "instances_list": [ids]}
"""

import math


class AIOSv1PolicyRule:
    def __init__(self, rule_id, settings, parameters):
        self.parameters = parameters

    def eval(self, parameters, input_data, context):
        block = input_data.get("block_data") or {}
        current = list(input_data.get("current_instances") or [])
        metrics = input_data.get("metrics") or block.get("metrics") or {}
        name = parameters.get("metric", "queue_length")
        target = float(parameters.get("target_per_instance", 10))
        total = sum(float((metrics.get(i) or {}).get(name, 0)) for i in current)
        lo = int(block.get("minInstances", 1))
        hi = int(block.get("maxInstances", max(len(current), 1) * 4))
        desired = min(max(math.ceil(total / target) if target > 0 else len(current), lo), hi)
        if desired > len(current):
            return {"skip": False, "operation": "upscale", "instances_count": desired - len(current)}
        low_water = float(parameters.get("scale_down_below", 0.3)) * target * len(current)
        if desired < len(current) and total < low_water:
            idle = sorted(current, key=lambda i: float((metrics.get(i) or {}).get(name, 0)))
            return {"skip": False, "operation": "downscale", "instances_list": idle[: len(current) - desired]}
        return {"skip": True}
