"""main() sleeps until killed; its finally block proves user cleanup runs on SIGTERM."""

import time

from aios_splits import execute_model_splitter


class SlowSplitter:
    def __init__(self, context):
        self.context = context

    def begin(self):
        return True, None

    def main(self, extra):
        try:
            self.context.progress(0.1, "sleeping")
            time.sleep(60)
        finally:
            (self.context.output_dir.parent / "cleaned").write_text("yes")
        return True, None

    def finish(self, extra):
        return True, None


if __name__ == "__main__":
    execute_model_splitter(SlowSplitter)
