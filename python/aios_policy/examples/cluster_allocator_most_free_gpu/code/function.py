"""clusterAllocator: among clusters carrying a label, prefer the most free GPU memory.

selection:    input {"action": "selection", "filter_result": [cluster docs], "block_data": {...}}
              -> {"clusters": [cluster ids, best first]}
post_dry_run: input {"action": "post_dry_run", "clusters": [{"id", "cluster", "score_data", "block_data"}]}
              -> the element with the highest score_data.score (ties: most free GPU memory)

parameters: label (a tag the cluster must carry, default none), min_free_gpu_memory (MB, default 0),
            max_clusters (default 3).
Free GPU memory is read from cluster["metrics"]["gpu"]["totalFreeMem"] when present, else from
cluster["gpus"]["memory"] (MB, AIOS documents).
"""


def _free_gpu_mem(cluster):
    metrics = cluster.get("metrics") or {}
    gpu = metrics.get("gpu") or {}
    if "totalFreeMem" in gpu:
        return float(gpu["totalFreeMem"])
    return float((cluster.get("gpus") or {}).get("memory", 0))


class AIOSv1PolicyRule:
    def __init__(self, rule_id, settings, parameters):
        self.rule_id = rule_id
        self.settings = settings
        self.parameters = parameters

    def eval(self, parameters, input_data, context):
        action = input_data.get("action", "selection")
        if action == "post_dry_run":
            clusters = input_data.get("clusters") or []
            if not clusters:
                raise ValueError("post_dry_run with no clusters")
            return max(clusters, key=lambda c: (float((c.get("score_data") or {}).get("score", 0)),
                                                _free_gpu_mem(c.get("cluster") or {})))
        label = parameters.get("label")
        floor = float(parameters.get("min_free_gpu_memory", 0))
        chosen = []
        for cluster in input_data.get("filter_result") or []:
            tags = cluster.get("tags") or []
            if label and label not in tags:
                continue
            free = _free_gpu_mem(cluster)
            if free >= floor:
                chosen.append((free, cluster["id"]))
        chosen.sort(key=lambda t: (-t[0], t[1]))
        return {"clusters": [cid for _, cid in chosen[: int(parameters.get("max_clusters", 3))]]}

    def management(self, action, data):
        if action == "get_parameters":
            return dict(self.parameters)
        raise ValueError(f"unknown action {action!r}")
