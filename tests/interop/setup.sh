#!/usr/bin/env bash
# Install the clients the interoperability suite drives our servers with:
#   - Eclipse Thingweb node-wot 0.9.2 (+ Ajv), pinned by tests/interop/package-lock.json;
#   - the original LabThings-FastAPI 0.3.0 (its Python ThingClient) in .venv-original/.
# Idempotent: does nothing when both are already installed. Needs node, npm,
# python3 and access to the npm registry and PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! [ -d tests/interop/node_modules/@node-wot/core ]; then
    echo "== npm ci (node-wot) in tests/interop"
    npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi

if ! .venv-original/bin/python -c "import labthings_fastapi" 2>/dev/null; then
    echo "== pip install labthings-fastapi==0.3.0 into .venv-original/"
    python3 -m venv .venv-original
    .venv-original/bin/pip install --quiet --disable-pip-version-check labthings-fastapi==0.3.0
fi
