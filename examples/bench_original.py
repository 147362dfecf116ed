"""The Bench thing (examples/bench.rs) for the original LabThings-FastAPI 0.3.0.

The benchmark harness (`cargo bench --bench perf`) serves this with
`labthings-server` from `.venv-original/` when that venv exists, to compare the
original with `examples/bench.rs` in the same run.
"""

import time

import labthings_fastapi as lt


class Bench(lt.Thing):
    """A benchmark thing with a counter."""

    count: int = lt.property(default=0)
    """A counter."""

    label: str = lt.property(default="")
    """A label for the bench."""

    @lt.action
    def increment(self, by: int = 1) -> int:
        """Add `by` to the counter and return the new value."""
        self.count += by
        return self.count

    @lt.action
    def slow_task(self, duration_s: float = 1.0, steps: int = 10) -> str:
        """Sleep for `duration_s` seconds in `steps` steps, logging each one."""
        for n in range(steps):
            time.sleep(duration_s / max(steps, 1))
            self.logger.info(f"step {n + 1} of {steps}")
        return f"finished {steps} steps"
