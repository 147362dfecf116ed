"""Drive labthings servers with the original's own Python client.

    python tests/interop/thing_client.py MOCK_LAB_URL BENCH_URL

Uses ``labthings_fastapi.ThingClient`` (0.3.0, unchanged) exactly as a user of
the original would: typed property access, actions as methods that wait for
their output, blobs, errors raised as its own exceptions. Exit status 0 means
every check passed; each failure is printed.

For servers that need credentials, ``LABTHINGS_CREDENTIALS`` holds JSON that
maps a server URL to ``{"username": ..., "password": ...}`` (HTTP Basic) or
``{"token": ...}`` (bearer). The ThingClient is then given an ``httpx2.Client``
that sends them, as the original's documentation suggests for HTTP options;
first, a client without them must be refused.
"""

import json
import os
import sys
import threading
import time
from urllib.parse import urlparse

import httpx2
from labthings_fastapi import ThingClient
from labthings_fastapi.exceptions import (
    FailedToInvokeActionError,
    InvocationCancelledError,
    ServerActionError,
)

passed = 0
failures = []


def check(condition, what, detail=None):
    global passed
    if condition:
        passed += 1
    else:
        failures.append(what)
        print(f"FAIL {what}" + ("" if detail is None else f" ({detail!r})"), file=sys.stderr)


def equal(actual, expected, what):
    check(actual == expected, what, {"actual": actual, "expected": expected})


def raises(kind, call, what):
    """Return the message of the `kind` exception `call()` raises; fail otherwise."""
    try:
        call()
    except kind as error:
        return str(error)
    except BaseException as error:  # noqa: BLE001 - report what it was
        check(False, f"{what} raises {kind.__name__}", f"{type(error).__name__}: {error}")
        return ""
    check(False, f"{what} raises {kind.__name__}", "it returned")
    return ""


CREDENTIALS = json.loads(os.environ.get("LABTHINGS_CREDENTIALS", "{}"))


def client_for(url):
    """An httpx2 client for the server of `url`, with its credentials if any."""
    parsed = urlparse(url)
    server = f"{parsed.scheme}://{parsed.netloc}"
    credentials = CREDENTIALS.get(server) or CREDENTIALS.get(server + "/")
    if credentials is None:
        return httpx2.Client(base_url=server)
    if "token" in credentials:
        return httpx2.Client(base_url=server, headers={"Authorization": f"Bearer {credentials['token']}"})
    return httpx2.Client(base_url=server, auth=(credentials["username"], credentials["password"]))


def thing(url):
    """`ThingClient.from_url`, given the server's credentials."""
    return ThingClient.from_url(url, client=client_for(url))


def refused_without_credentials(base):
    """A server that needs credentials refuses a ThingClient without them."""
    if (base.rstrip("/")) not in CREDENTIALS:
        return
    try:
        ThingClient.from_url(f"{base}things/")
    except httpx2.HTTPStatusError as error:
        equal(error.response.status_code, 401, "no credentials: 401")
        check("Basic" in error.response.headers.get("www-authenticate", "")
              or "Bearer" in error.response.headers.get("www-authenticate", ""),
              "the 401 says how to authenticate", dict(error.response.headers))
        return
    check(False, "a client without credentials is refused")


def cancel_when_running(base, action):
    """In the background: cancel the first running invocation of `action`."""

    def run():
        http = client_for(base)
        for _ in range(500):
            running = [
                i
                for i in http.get(f"{base}action_invocations").json()
                if i["action"].endswith("/" + action) and i["status"] == "running"
            ]
            if running:
                http.delete(running[0]["href"])
                return
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def bench(base):
    bench = thing(f"{base}bench/")
    bench.count = 5
    equal(bench.count, 5, "count reads back")
    equal(bench.increment(by=3), 8, "increment(by=3)")
    equal(bench.increment(), 9, "increment() uses the default")
    bench.label = "ThingClient was here"
    equal(bench.label, "ThingClient was here", "label reads back")
    equal(bench.slow_task(duration_s=0.1, steps=2), "finished 2 steps", "slow_task output")
    message = raises(FailedToInvokeActionError, lambda: bench.increment(by="three"), "increment(by='three')")
    check("by" in message, "the 422 names the field", message)
    canceller = cancel_when_running(base, "slow_task")
    raises(InvocationCancelledError, lambda: bench.slow_task(duration_s=60, steps=600), "a cancelled slow_task")
    canceller.join()


def mock_lab(base):
    stage = thing(f"{base}stage/")
    stage.step_delay_ms = 1
    equal(stage.step_delay_ms, 1, "step_delay_ms reads back")
    equal(stage.home(), [0, 0, 0], "home")
    equal(stage.move_relative(x=2, y=1), [2, 1, 0], "move_relative")
    equal(stage.position, [2, 1, 0], "position after the move")
    equal(stage.move_absolute(x=-3, y=0, z=4), [-3, 0, 4], "move_absolute")
    message = raises(ServerActionError, lambda: stage.move_relative(x=150000), "a move beyond travel")
    check("beyond the stage's travel" in message, "the device's refusal carries its message", message)
    message = raises(FailedToInvokeActionError, lambda: stage.move_absolute(x=10**6, y=0, z=0), "x beyond the schema's maximum")
    check("100000" in message, "the schema's bound is named", message)
    stage.home()

    camera = thing(f"{base}camera/")
    camera.exposure_ms = 1.0
    equal(camera.exposure_ms, 1.0, "exposure_ms reads back")
    before = camera.frames_acquired
    means = camera.acquire(count=2)
    equal(len(means), 2, "acquire returns one mean per frame")
    equal(camera.frames_acquired, before + 2, "frames_acquired counts them")
    picture = camera.snap()
    equal(picture.media_type, "image/jpeg", "snap returns a JPEG blob")
    check(picture.content[:2] == b"\xff\xd8", "the blob downloads as a JPEG", picture.content[:4])

    autofocus = thing(f"{base}autofocus/")
    z = autofocus.scan(range=20, step=10)
    check(isinstance(z, int), "scan returns an integer", z)
    equal(autofocus.best_z, z, "best_z is what scan chose")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    lab_url, bench_url = (url.rstrip("/") + "/" for url in sys.argv[1:])
    for name, plan, url in (("mock lab", mock_lab, lab_url), ("bench", bench, bench_url)):
        try:
            refused_without_credentials(url)
            plan(url)
        except BaseException as error:  # noqa: BLE001 - a failed plan is a failed check
            check(False, f"the {name} plan ran to the end", f"{type(error).__name__}: {error}")
        print(f"{name}: done")
    print(f"ThingClient: {passed} checks passed, {len(failures)} failed")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
