"""Shared by the aios_policy tests (a unique module name: several SDKs' tests run in one pytest)."""

from pathlib import Path

PKG = Path(__file__).resolve().parent.parent

ECHO_POLICY = '''
class AIOSv1PolicyRule:
    def __init__(self, rule_id, settings, parameters):
        self.rule_id = rule_id
        self.settings = settings
        self.parameters = parameters
        self.calls = 0

    def eval(self, parameters, input_data, context):
        self.calls += 1
        return {"parameters": parameters, "settings": self.settings, "input": input_data,
                "context": context, "calls": self.calls, "rule_id": self.rule_id}

    def management(self, action, data):
        return {"action": action, "data": data, "calls": self.calls}
'''
