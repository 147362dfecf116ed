"""One cell of the interoperability matrix (tests/matrix.rs) for the
original LabThings-FastAPI 0.3.0's ``ThingClient``:

    python tests/interop/matrix_thing_client.py https://127.0.0.1:PORT/lab/bench/

With the server's credentials from ``LABTHINGS_CREDENTIALS`` (``{"username",
"password"}`` or ``{"token"}``) and, for HTTPS, the certificate to trust from
``LABTHINGS_CACERT``, given to the ``httpx2.Client`` the ThingClient uses, as
its documentation suggests for HTTP options. Writes ``count`` = 40, reads it
back, invokes ``increment(by=2)`` and reads 42. Prints "cell passed" and
exits 0, or prints what failed and exits 1.
"""

import json
import os
import sys
from urllib.parse import urlparse

import httpx2
from labthings_fastapi import ThingClient


def main():
    url = sys.argv[1]
    parsed = urlparse(url)
    server = f"{parsed.scheme}://{parsed.netloc}"
    credentials = json.loads(os.environ.get("LABTHINGS_CREDENTIALS", "null"))
    options = {"base_url": server, "verify": os.environ.get("LABTHINGS_CACERT") or True}
    if credentials and "token" in credentials:
        options["headers"] = {"Authorization": f"Bearer {credentials['token']}"}
    elif credentials:
        options["auth"] = (credentials["username"], credentials["password"])
    bench = ThingClient.from_url(url, client=httpx2.Client(**options))
    bench.count = 40
    if bench.count != 40:
        return f"read {bench.count} after writing 40"
    output = bench.increment(by=2)
    if output != 42:
        return f"increment(by=2) answered {output!r}"
    if bench.count != 42:
        return f"read {bench.count} after the increment"
    return None


if __name__ == "__main__":
    try:
        failed = main()
    except Exception as error:  # every failure is the cell's answer
        failed = f"{type(error).__name__}: {error}"
    if failed:
        print(f"not ok: {failed}")
        sys.exit(1)
    print("cell passed")
