#!/usr/bin/env bash
# Install what the interoperability and browser tests drive our servers with:
#   - Eclipse Thingweb node-wot 0.9.2, Ajv, playwright-core and the W3C WoT
#     TD Playground's core 1.4.0 and assertions 1.5.0, pinned by
#     tests/interop/package-lock.json (npm ci), and node-wot 0.8.16's MQTT
#     binding, pinned by tests/interop/mqtt/package-lock.json;
#   - the original LabThings-FastAPI 0.3.0 (its Python ThingClient) and
#     openapi-spec-validator, in .venv-original/ (pip);
#   - schemathesis 4.32.5, in .venv-schemathesis/ (pip; its own venv, as its
#     dependencies need not agree with the original's);
#   - Eclipse Thingweb's Thing Description Directory domus-tdd-api 1.0.2 and
#     the Oxigraph 0.5.13 SPARQL server it stores TDs in, in .venv-domus/;
#   - the `sangaboard` Python package 0.4.1 (pysangaboard, OpenFlexure's own
#     Sangaboard client and test device), in .venv-sangaboard/, which the
#     Sangaboard emulator is built on and checked with;
#   - Debian's chromium for the headless browser tests, curl for the HTTPS
#     test, and mosquitto + mosquitto-clients for the MQTT binding's tests
#     (apt-get, as root or with sudo), unless they are there.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! [ -d tests/interop/node_modules/@node-wot/core ] || ! [ -d tests/interop/node_modules/playwright-core ] \
    || ! [ -d tests/interop/node_modules/@thing-description-playground/assertions ]; then
    echo "== npm ci in tests/interop (node-wot, ajv, playwright-core, the TD Playground)"
    npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi

if ! [ -d tests/interop/mqtt/node_modules/@node-wot/binding-mqtt ]; then
    echo "== npm ci in tests/interop/mqtt (node-wot 0.8.16's MQTT binding)"
    npm ci --prefix tests/interop/mqtt --no-audit --no-fund --loglevel=error
fi

if ! [ -x .venv-original/bin/python ]; then
    python3 -m venv .venv-original
fi
if ! .venv-original/bin/python -c "import labthings_fastapi, openapi_spec_validator" 2>/dev/null; then
    echo "== pip install labthings-fastapi==0.3.0 openapi-spec-validator==0.9.0 into .venv-original/"
    .venv-original/bin/pip install --quiet --disable-pip-version-check \
        labthings-fastapi==0.3.0 openapi-spec-validator==0.9.0
fi

if ! [ -x .venv-schemathesis/bin/schemathesis ]; then
    echo "== pip install schemathesis==4.32.5 into .venv-schemathesis/"
    python3 -m venv .venv-schemathesis
    .venv-schemathesis/bin/pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

if ! [ -x .venv-domus/bin/domus-tdd-api ] || ! [ -x .venv-domus/bin/oxigraph ]; then
    echo "== pip install domus-tdd-api==1.0.2 oxigraph==0.5.13 into .venv-domus/"
    python3 -m venv .venv-domus
    .venv-domus/bin/pip install --quiet --disable-pip-version-check domus-tdd-api==1.0.2 oxigraph==0.5.13
fi

if ! .venv-sangaboard/bin/python -c "import sangaboard" 2>/dev/null; then
    echo "== pip install sangaboard==0.4.1 into .venv-sangaboard/"
    python3 -m venv .venv-sangaboard
    .venv-sangaboard/bin/pip install --quiet --disable-pip-version-check sangaboard==0.4.1
fi

if ! [ -x /usr/bin/chromium ] || ! command -v curl >/dev/null || ! [ -x /usr/sbin/mosquitto ] \
    || ! command -v mosquitto_sub >/dev/null; then
    echo "== apt-get install chromium curl mosquitto mosquitto-clients"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium curl mosquitto mosquitto-clients >/dev/null
    # The tests start brokers of their own; the service Debian starts is not needed.
    if command -v systemctl >/dev/null; then $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
fi
