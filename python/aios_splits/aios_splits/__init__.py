"""aios_splits: the model-splitter SDK for aios-swift split tasks (docs/model-plan.md).

The platform runs a splitter program with ``TASK_ID``, ``TASK_DATA`` and ``AIOS_SPLIT_OUTPUT_DIR`` set. The
program writes one artifact per split and the model plan; the SDK runs its stages and reports them::

    from aios_splits import SplitContext, build_plan, execute_model_splitter

    class Splitter:
        def __init__(self, context: SplitContext):
            self.context = context

        def begin(self):                              # -> (ok, extra)
            return True, None

        def main(self, extra):                        # -> (ok, extra)
            ref = self.context.write_artifact("split-0.bin", b"...")
            self.context.progress(0.5, "wrote split-0")
            return True, [ref]

        def finish(self, refs):                       # -> (ok, plan): the plan is validated and written
            return True, build_plan(model=..., splitter={"name": "mine"}, splits=[...], base_name="m",
                                    task_id=self.context.task_id)

    if __name__ == "__main__":
        execute_model_splitter(Splitter)

The built-in ``layer-range`` splitter is ``python -m aios_splits.layer_range`` (it needs ``gguf`` and
``numpy``; nothing else here does).
"""

from .context import (
    ENV_OUTPUT_DIR,
    ENV_TASK_DATA,
    ENV_TASK_ID,
    PLAN_FILE,
    PROGRESS_PREFIX,
    ArtifactRef,
    SplitArtifactError,
    SplitConfigError,
    SplitContext,
    check_artifact_name,
    file_digest,
    progress_line,
)
from .plan import (
    DEFAULT_RUNNER,
    PLAN_VERSION,
    ModelInfo,
    PlanError,
    PlannedSplit,
    block_spec,
    build_plan,
    plan_names,
    validate_plan,
    vdag_spec,
)
from .ranges import MemoryModel, SplitPlanningError, TargetNode, balanced_ranges, even_ranges
from .runner import (
    EXIT_TERMINATED,
    STAGE_PREFIX,
    STAGES,
    SplitTerminated,
    describe_exception,
    execute_model_splitter,
    report_stage,
    run_model_splitter,
    stage_line,
)

__version__ = "0.1.0"

__all__ = [
    "ArtifactRef",
    "DEFAULT_RUNNER",
    "ENV_OUTPUT_DIR",
    "ENV_TASK_DATA",
    "ENV_TASK_ID",
    "EXIT_TERMINATED",
    "MemoryModel",
    "ModelInfo",
    "PLAN_FILE",
    "PLAN_VERSION",
    "PROGRESS_PREFIX",
    "PlanError",
    "PlannedSplit",
    "STAGES",
    "STAGE_PREFIX",
    "SplitArtifactError",
    "SplitConfigError",
    "SplitContext",
    "SplitPlanningError",
    "SplitTerminated",
    "TargetNode",
    "__version__",
    "balanced_ranges",
    "block_spec",
    "build_plan",
    "check_artifact_name",
    "describe_exception",
    "even_ranges",
    "execute_model_splitter",
    "file_digest",
    "plan_names",
    "progress_line",
    "report_stage",
    "run_model_splitter",
    "stage_line",
    "validate_plan",
    "vdag_spec",
]
