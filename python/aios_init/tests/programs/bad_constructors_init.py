"""CTOR=arity: a two-parameter constructor; CTOR=raise: a constructor that raises; CTOR=nostage: no main()."""

import os

from aios_init import execute_init_container


class TwoArgs:
    def __init__(self, context, extra):
        pass


class Raises:
    def __init__(self, context):
        raise RuntimeError("model weights not found")


class NoMain:
    def __init__(self, context):
        pass

    def begin(self):
        return True, None

    def finish(self):
        return True, None


if __name__ == "__main__":
    execute_init_container({"arity": TwoArgs, "raise": Raises, "nostage": NoMain}[os.environ["CTOR"]])
