"""aios_init: the init-container SDK for aios-swift ``third_party`` components.

The platform runs the init program before a block's instances start (``AIOS_INIT_MODE=create``) and again when
the block is removed (``remove``). The program is a class with ``begin()``, ``main()`` and ``finish()``, each
returning ``(ok: bool, payload)``; in create mode the dict ``finish()`` returns becomes the instances'
``blockInitData.initContainer``::

    from aios_init import InitContext, execute_init_container

    class Init:
        def __init__(self, context: InitContext):
            self.context = context

        def begin(self):
            return True, None

        def main(self):
            return True, None

        def finish(self):
            return True, {"server_url": "http://127.0.0.1:8080"}

    if __name__ == "__main__":
        execute_init_container(Init)
"""

from .context import (
    ENV_BLOCK_FILE,
    ENV_BLOCK_ID,
    ENV_CLUSTER_ID,
    ENV_MODE,
    ENV_RESULT,
    ENV_STATE_DIR,
    MODE_CREATE,
    MODE_REMOVE,
    InitConfigError,
    InitContext,
)
from .runner import (
    STAGE_PREFIX,
    STAGES,
    InitTerminated,
    describe_exception,
    execute_init_container,
    report_stage,
    run_init_container,
    stage_line,
)

__version__ = "0.1.0"

__all__ = [
    "ENV_BLOCK_FILE",
    "ENV_BLOCK_ID",
    "ENV_CLUSTER_ID",
    "ENV_MODE",
    "ENV_RESULT",
    "ENV_STATE_DIR",
    "InitConfigError",
    "InitContext",
    "InitTerminated",
    "MODE_CREATE",
    "MODE_REMOVE",
    "STAGES",
    "STAGE_PREFIX",
    "__version__",
    "describe_exception",
    "execute_init_container",
    "report_stage",
    "run_init_container",
    "stage_line",
]
