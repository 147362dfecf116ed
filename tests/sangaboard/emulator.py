#!/usr/bin/env python3
"""A Sangaboard motor controller (firmware v1) on a real pseudo-terminal.

Built on the `sangaboard` package's own testing device,
`sangaboard.testing.DummySangaboardDevice` (its handshake: `version`,
`board`, `list_modules`, `blocking_moves`, and LED control), with the motion
commands added: `p?`, `mr dx dy dz` (and `mrx d`...), `moving?`, `stop`,
`notify_on_stop`, `zero`, `release`, `dt?`/`dt N`, `ramp_time?`/`ramp_time N`.
A move takes time (`--steps-per-second`, all axes together); with
`blocking_moves true` its `done` comes when it ends, as on the board.

    python tests/sangaboard/emulator.py [--link PATH] [--log FILE] [--steps-per-second N]

Prints the pseudo-terminal's path (the serial port a driver opens) on one
line, then serves until killed. `--link PATH` also makes PATH a symbolic
link to it, as udev's /dev/serial/by-id/ links are, so a restarted emulator
is found at the same name. `--log FILE` appends every line received, so a
test can see what the hardware was told (a `stop` at shutdown).
"""

import argparse
import os
import re
import select
import sys
import time
import tty

from sangaboard.testing import DummySangaboardDevice

AXES = "xyz"


class EmulatedSangaboard(DummySangaboardDevice):
    """The package's dummy board, with motors that take time to move."""

    def __init__(self, steps_per_second, log=None):
        super().__init__(firmware_version="Sangaboard Firmware v1.0.1")
        self.print_buffers = False
        self.steps_per_second = steps_per_second
        self.log = log
        self.position = [0, 0, 0]
        # A move in progress: (start position, displacement, start time, duration).
        self.move = None
        # Replies owed when the motors stop (a blocking `mr`, `notify_on_stop`).
        self.owed_at_stop = []
        self.step_time_us = 1000
        self.ramp_time_us = 0
        self.register_response(r"p\?$", lambda _g: "{} {} {}\r\n".format(*self.here()))
        self.register_response(r"moving\?$", lambda _g: "true\r\n" if self.move else "false\r\n")
        self.register_response(r"mr([xyz]) (-?\d+)$", self.move_axis)
        self.register_response(r"mr (-?\d+) (-?\d+) (-?\d+)$", self.move_all)
        self.register_response(r"stop$", self.stop)
        self.register_response(r"notify_on_stop$", self.notify_on_stop)
        self.register_response(r"zero$", self.zero)
        self.register_response(r"release$", lambda _g: "motors released\r\n")
        self.register_response(r"dt\?$", lambda _g: f"minimum step delay {self.step_time_us}\r\n")
        self.register_response(r"dt (\d+)$", self.set_step_time)
        self.register_response(r"ramp_time\?$", lambda _g: f"ramp time {self.ramp_time_us}\r\n")
        self.register_response(r"ramp_time (\d+)$", self.set_ramp_time)

    def here(self, now=None):
        """Where the motors are now (part-way through a move)."""
        if self.move is None:
            return list(self.position)
        start, delta, t0, duration = self.move
        now = time.monotonic() if now is None else now
        fraction = 1.0 if duration <= 0 else min(1.0, (now - t0) / duration)
        return [s + int(round(d * fraction)) for s, d in zip(start, delta)]

    def start_move(self, delta):
        if self.move is not None:
            return "error: already moving\r\n"
        duration = max(abs(d) for d in delta) / self.steps_per_second
        self.move = (list(self.position), delta, time.monotonic(), duration)
        if self.blocking_moves:
            self.owed_at_stop.append("done\r\n")
            return ""
        return "done\r\n"

    def move_axis(self, groups):
        delta = [0, 0, 0]
        delta[AXES.index(groups[0])] = int(groups[1])
        return self.start_move(delta)

    def move_all(self, groups):
        return self.start_move([int(g) for g in groups])

    def end_move(self):
        """The motors stop where they are; what was owed is said."""
        if self.move is not None:
            self.position = self.here()
            self.move = None
        owed, self.owed_at_stop = "".join(self.owed_at_stop), []
        return owed

    def stop(self, _groups):
        return self.end_move() + "stopped\r\n"

    def notify_on_stop(self, _groups):
        if self.move is None:
            return "stopped\r\n"
        self.owed_at_stop.append("stopped\r\n")
        return ""

    def zero(self, _groups):
        if self.move is not None:
            return "error: moving\r\n"
        self.position = [0, 0, 0]
        return "position reset to 0 0 0\r\n"

    def set_step_time(self, groups):
        self.step_time_us = int(groups[0])
        return "done\r\n"

    def set_ramp_time(self, groups):
        self.ramp_time_us = int(groups[0])
        return "done\r\n"

    def tick(self):
        """Finish a move whose time is up; what it owes, if anything."""
        if self.move is not None:
            _, _, t0, duration = self.move
            if time.monotonic() >= t0 + duration:
                return self.end_move()
        return ""

    def receive(self, line):
        """One line from the driver: answer it, as the firmware would."""
        if self.log is not None:
            self.log.write(line + "\n")
            self.log.flush()
        line = line.strip()
        if line == "":
            return ""
        self.respond_to(line)
        reply, self.read_buffer = self.read_buffer.decode(), b""
        return reply


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--link", help="also make this path a symbolic link to the port")
    parser.add_argument("--log", help="append every line received to this file")
    parser.add_argument("--steps-per-second", type=float, default=1000.0)
    args = parser.parse_args()

    log = open(args.log, "a", encoding="utf8") if args.log else None
    board = EmulatedSangaboard(args.steps_per_second, log)
    master, slave = os.openpty()
    # Raw: no echo, no newline translation, as a USB serial device. The
    # emulator keeps its own end of the port open, so the port stays up
    # between a driver closing it and the next opening it.
    tty.setraw(slave)
    port = os.ttyname(slave)
    if args.link:
        temporary = args.link + ".new"
        if os.path.lexists(temporary):
            os.unlink(temporary)
        os.symlink(port, temporary)
        os.replace(temporary, args.link)
    print(port, flush=True)
    # The package's test device prints as it answers (`led_cc`): once the
    # port is said, nobody reads standard output any more.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())

    pending = b""
    while True:
        readable, _, _ = select.select([master], [], [], 0.01)
        replies = ""
        if readable:
            data = os.read(master, 4096)
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                replies += board.receive(line.decode("utf8", errors="replace"))
        replies += board.tick()
        if replies:
            os.write(master, replies.encode())


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
