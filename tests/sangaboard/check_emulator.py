#!/usr/bin/env python3
"""Drive the Sangaboard emulator through its pseudo-terminal with the
`sangaboard` package's real client class, `sangaboard.Sangaboard`, so the
emulator is held to what the real library expects (not merely to what our
driver does).

    python tests/sangaboard/check_emulator.py PORT

Prints one "ok ..." line per check and "emulator passed" at the end; any
failed check raises (exit status 1).
"""

import sys
import time

from sangaboard import Sangaboard


def check(what, got, wanted):
    if got != wanted:
        raise AssertionError(f"{what}: {got!r}, not {wanted!r}")
    print(f"ok {what}: {got!r}", flush=True)


port = sys.argv[1]
with Sangaboard(port) as sb:
    # The handshake the class makes: version check, modules, board.
    check("firmware version", sb.version_tuple, (1, 0))
    check("board", sb.board, "Sangaboard v0.5")
    check("illumination module", sb.illumination.channels, [1, 2])
    check("position at start", list(sb.position), [0, 0, 0])
    # The class turns blocking moves on for firmware v1: move_rel returns
    # when the move has ended.
    sb.move_rel([300, -200, 100])
    check("position after a blocking move_rel", list(sb.position), [300, -200, 100])
    sb.move_rel(-100, axis="x")
    check("position after a one-axis move", list(sb.position), [200, -200, 100])
    sb.move_abs([0, 0, 0])
    check("position after move_abs", list(sb.position), [0, 0, 0])
    # Non-blocking moves, as labthings-sangaboard uses them: moving?, stop.
    check("blocking_moves false", sb.query("blocking_moves false"), "done")
    sb.move_rel([5000, 0, 0])
    check("moving? during a move", sb.query("moving?"), "true")
    time.sleep(0.3)
    check("stop", sb.query("stop"), "stopped")
    x = sb.position[0]
    if not 0 < x < 5000:
        raise AssertionError(f"stopped part-way: x = {x}")
    print(f"ok stopped part-way at x = {x}", flush=True)
    check("moving? after stop", sb.query("moving?"), "false")
    check("notify_on_stop when still", sb.query("notify_on_stop"), "stopped")
    sb.zero_position()
    check("position after zero", list(sb.position), [0, 0, 0])
    sb.step_time = 2000
    check("step_time", sb.step_time, 2000)
    sb.illumination.cc_led = 0.5
    check("cc_led", sb.illumination.cc_led, 0.5)
    sb.release_motors()
print("emulator passed", flush=True)
