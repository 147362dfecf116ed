"""The Bench thing (benches/servers/bench.rs) for the original LabThings-FastAPI 0.3.0.

The benchmark harness (`cargo bench --bench perf`) serves this with
`labthings-server` from `.venv-original/` when that venv exists, to compare the
original with `benches/servers/bench.rs` in the same run.
"""

import time

import labthings_fastapi as lt
from labthings_fastapi.outputs.mjpeg_stream import MJPEGStreamDescriptor


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


def _now_us() -> int:
    """Now as microseconds since the Unix epoch."""
    return time.time_ns() // 1000


def _paced(rate: float, count: int, f) -> None:
    """Call f(i) for i in range(count), rate times a second on average."""
    period = 1.0 / max(rate, 0.001)
    start = time.monotonic()
    for i in range(count):
        wait = start + period * i - time.monotonic()
        if wait >= 0.0005:
            time.sleep(wait)
        f(i)


class Live(lt.Thing):
    """Live data for the benchmark (benches/servers/bench.rs's Live, without the event)."""

    tick: int = lt.property(default=0)
    """When device code last set it, in microseconds since the Unix epoch."""

    frames = MJPEGStreamDescriptor()

    @lt.action
    def ticker(self, rate: float = 10.0, count: int = 100) -> int:
        """Set `tick` to the current time `count` times, `rate` times a second."""
        last = 0

        def step(_i: int) -> None:
            nonlocal last
            last = max(_now_us(), last + 1)
            self.tick = last

        _paced(rate, count, step)
        return count

    @lt.action
    def push_frames(self, fps: float = 30.0, count: int = 30, size: int = 1000000) -> int:
        """Push `count` frames of `size` bytes, `fps` a second."""
        frame = b"\xff\xd8" + b"\x55" * (max(size, 4) - 4) + b"\xff\xd9"
        _paced(fps, count, lambda _i: self.frames.add_frame(frame))
        return count


class Wide(lt.Thing):
    """Ten properties and ten actions (the many-things scenario)."""

    p0: int = lt.property(default=0)
    """Property 0."""

    p1: int = lt.property(default=0)
    """Property 1."""

    p2: int = lt.property(default=0)
    """Property 2."""

    p3: int = lt.property(default=0)
    """Property 3."""

    p4: int = lt.property(default=0)
    """Property 4."""

    p5: int = lt.property(default=0)
    """Property 5."""

    p6: int = lt.property(default=0)
    """Property 6."""

    p7: int = lt.property(default=0)
    """Property 7."""

    p8: int = lt.property(default=0)
    """Property 8."""

    p9: int = lt.property(default=0)
    """Property 9."""

    @lt.action
    def a0(self, x: int) -> int:
        """Action 0: answers `x`."""
        return x

    @lt.action
    def a1(self, x: int) -> int:
        """Action 1: answers `x`."""
        return x

    @lt.action
    def a2(self, x: int) -> int:
        """Action 2: answers `x`."""
        return x

    @lt.action
    def a3(self, x: int) -> int:
        """Action 3: answers `x`."""
        return x

    @lt.action
    def a4(self, x: int) -> int:
        """Action 4: answers `x`."""
        return x

    @lt.action
    def a5(self, x: int) -> int:
        """Action 5: answers `x`."""
        return x

    @lt.action
    def a6(self, x: int) -> int:
        """Action 6: answers `x`."""
        return x

    @lt.action
    def a7(self, x: int) -> int:
        """Action 7: answers `x`."""
        return x

    @lt.action
    def a8(self, x: int) -> int:
        """Action 8: answers `x`."""
        return x

    @lt.action
    def a9(self, x: int) -> int:
        """Action 9: answers `x`."""
        return x
