"""loadBalancer: pin a session to one instance, round-robin new sessions.

input {"mode": "load_balance", "packet": {...}, "instances": [ready instance ids]} -> {"instance_id"}

The session key is packet["session_id"], or packet["headers"][parameters["header"]] when the
parameter ``header`` is set (e.g. "x-session"). Pins survive while their instance stays in
``instances``; a pin whose instance left is re-assigned. ``settings.session_cache_size`` (default
1000) bounds the pin table (oldest dropped first).
management: "get_current_mapping" -> {session: instance}; "reset" -> clears the pins;
            "assign_streaming" {"session_id", "instances"} -> {"instance_id"} (AIOS executor).
"""

from collections import OrderedDict


class AIOSv1PolicyRule:
    def __init__(self, rule_id, settings, parameters):
        self.cache_size = int(settings.get("session_cache_size", 1000))
        self.header = parameters.get("header")
        self.pins = OrderedDict()
        self.next = 0

    def _key(self, packet):
        if self.header:
            value = (packet.get("headers") or {}).get(self.header)
            if value:
                return str(value)
        sid = packet.get("session_id")
        return str(sid) if sid else None

    def _pick(self, key, instances):
        if not instances:
            raise ValueError("no ready instances")
        if key is not None:
            pinned = self.pins.get(key)
            if pinned in instances:
                self.pins.move_to_end(key)
                return pinned
        choice = sorted(instances)[self.next % len(instances)]
        self.next += 1
        if key is not None:
            self.pins[key] = choice
            while len(self.pins) > self.cache_size:
                self.pins.popitem(last=False)
        return choice

    def eval(self, parameters, input_data, context):
        if input_data.get("mode", "load_balance") != "load_balance":
            return {}
        return {"instance_id": self._pick(self._key(input_data.get("packet") or {}), input_data.get("instances") or [])}

    def management(self, action, data):
        if action == "get_current_mapping":
            return dict(self.pins)
        if action == "reset":
            self.pins.clear()
            return {"cleared": True}
        if action == "assign_streaming":
            return {"instance_id": self._pick(str(data.get("session_id")), data.get("instances") or [])}
        raise ValueError(f"unknown action {action!r}")
