"""main() sleeps until killed; its finally block proves user cleanup runs on SIGTERM."""

import time

from aios_init import execute_init_container


class SlowInit:
    def __init__(self, context):
        self.context = context

    def begin(self):
        return True, None

    def main(self):
        try:
            time.sleep(60)
        finally:
            (self.context.state_dir / "cleaned").write_text("yes")
        return True, None

    def finish(self):
        return True, None


if __name__ == "__main__":
    execute_init_container(SlowInit)
