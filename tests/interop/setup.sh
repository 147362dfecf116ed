#!/usr/bin/env bash
# Install what the interoperability, browser and MQTT tests drive our
# servers with. `cargo xtask test` runs it, then every test; plain
# `cargo test` never does (a test that finds something missing fails,
# naming `cargo xtask test`).
#
#   - inside this repository: Eclipse Thingweb node-wot 0.9.2, Ajv,
#     playwright-core and the W3C WoT TD Playground's core 1.4.0 and
#     assertions 1.5.0, pinned by tests/interop/package-lock.json (npm ci),
#     and node-wot 0.8.16's MQTT binding, pinned by
#     tests/interop/mqtt/package-lock.json; Python venvs (pip):
#     .venv-original/ (the original LabThings-FastAPI 0.3.0 and
#     openapi-spec-validator), .venv-schemathesis/ (schemathesis 4.32.5),
#     .venv-domus/ (the domus-tdd-api 1.0.2 directory and Oxigraph 0.5.13),
#     .venv-sangaboard/ (OpenFlexure's `sangaboard` package 0.4.1),
#     .venv-mcp/ (the official MCP Python SDK, `mcp` 2.3.0),
#     .venv-event-model/ (Bluesky's `event-model` 1.24.0, whose JSON
#     schemas judge the records' event-model export); and the
#     Mosquitto broker, unpacked from Debian's package into .tools/mosquitto/
#     (not installed: no system service is set up, started or stopped);
#   - Debian packages (apt-get, as root or with sudo): chromium, curl,
#     mosquitto-clients, and the libraries the unpacked broker links to.
#
# `setup.sh --check` installs nothing: it lists what is missing and exits 1
# if anything is. Otherwise it says what it is about to install, then
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

check=false
if [ "${1:-}" = "--check" ]; then check=true; fi

# What is missing, one line each: "kind|what".
missing=()
[ -d tests/interop/node_modules/@node-wot/core ] && [ -d tests/interop/node_modules/playwright-core ] \
    && [ -d tests/interop/node_modules/@thing-description-playground/assertions ] \
    || missing+=("npm|node-wot, Ajv, playwright-core and the TD Playground in tests/interop/node_modules")
[ -d tests/interop/mqtt/node_modules/@node-wot/binding-mqtt ] \
    || missing+=("npm-mqtt|node-wot 0.8.16's MQTT binding in tests/interop/mqtt/node_modules")
{ [ -x .venv-original/bin/python ] && .venv-original/bin/python -c "import labthings_fastapi, openapi_spec_validator" 2>/dev/null; } \
    || missing+=("original|LabThings-FastAPI 0.3.0 and openapi-spec-validator 0.9.0 in .venv-original/")
[ -x .venv-schemathesis/bin/schemathesis ] || missing+=("schemathesis|schemathesis 4.32.5 in .venv-schemathesis/")
{ [ -x .venv-domus/bin/domus-tdd-api ] && [ -x .venv-domus/bin/oxigraph ]; } \
    || missing+=("domus|domus-tdd-api 1.0.2 and Oxigraph 0.5.13 in .venv-domus/")
{ [ -x .venv-sangaboard/bin/python ] && .venv-sangaboard/bin/python -c "import sangaboard" 2>/dev/null; } \
    || missing+=("sangaboard|the sangaboard package 0.4.1 in .venv-sangaboard/")
{ [ -x .venv-mcp/bin/python ] && .venv-mcp/bin/python -c "import mcp" 2>/dev/null; } \
    || missing+=("mcp|the MCP Python SDK (mcp 2.3.0) in .venv-mcp/")
{ [ -x .venv-event-model/bin/python ] && .venv-event-model/bin/python -c "import event_model" 2>/dev/null; } \
    || missing+=("event-model|Bluesky's event-model 1.24.0 in .venv-event-model/")
{ [ -x /usr/bin/chromium ] && command -v curl >/dev/null && command -v mosquitto_sub >/dev/null; } \
    || missing+=("apt|Debian packages chromium, curl, mosquitto-clients (apt-get)")
# The unpacked broker runs (`-h` prints its version, or which library is
# missing).
{ [ -x .tools/mosquitto/usr/sbin/mosquitto ] \
    && [[ "$(.tools/mosquitto/usr/sbin/mosquitto -h 2>&1 || true)" == "mosquitto version"* ]]; } \
    || missing+=("broker|the Mosquitto broker unpacked into .tools/mosquitto/ (and the libraries it links to, apt-get)")

if [ ${#missing[@]} -eq 0 ]; then
    if $check; then echo "everything the tests need is installed"; fi
    exit 0
fi
if $check; then
    echo "missing (\`cargo xtask test\` installs it, or \`bash tests/interop/setup.sh\`):"
    for item in "${missing[@]}"; do echo "  - ${item#*|}"; done
    exit 1
fi
echo "== about to install:"
for item in "${missing[@]}"; do echo "  - ${item#*|}"; done
wants() {
    local item
    for item in "${missing[@]}"; do [ "${item%%|*}" = "$1" ] && return 0; done
    return 1
}
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

if wants npm; then
    echo "== npm ci in tests/interop (node-wot, ajv, playwright-core, the TD Playground)"
    npm ci --prefix tests/interop --no-audit --no-fund --loglevel=error
fi

if wants npm-mqtt; then
    echo "== npm ci in tests/interop/mqtt (node-wot 0.8.16's MQTT binding)"
    npm ci --prefix tests/interop/mqtt --no-audit --no-fund --loglevel=error
fi

if wants original; then
    [ -x .venv-original/bin/python ] || python3 -m venv .venv-original
    echo "== pip install labthings-fastapi==0.3.0 openapi-spec-validator==0.9.0 into .venv-original/"
    .venv-original/bin/pip install --quiet --disable-pip-version-check \
        labthings-fastapi==0.3.0 openapi-spec-validator==0.9.0
fi

if wants schemathesis; then
    echo "== pip install schemathesis==4.32.5 into .venv-schemathesis/"
    python3 -m venv .venv-schemathesis
    .venv-schemathesis/bin/pip install --quiet --disable-pip-version-check schemathesis==4.32.5
fi

if wants domus; then
    echo "== pip install domus-tdd-api==1.0.2 oxigraph==0.5.13 into .venv-domus/"
    python3 -m venv .venv-domus
    .venv-domus/bin/pip install --quiet --disable-pip-version-check domus-tdd-api==1.0.2 oxigraph==0.5.13
fi

if wants sangaboard; then
    echo "== pip install sangaboard==0.4.1 into .venv-sangaboard/"
    python3 -m venv .venv-sangaboard
    .venv-sangaboard/bin/pip install --quiet --disable-pip-version-check sangaboard==0.4.1
fi

if wants mcp; then
    echo "== pip install mcp==2.3.0 into .venv-mcp/"
    python3 -m venv .venv-mcp
    .venv-mcp/bin/pip install --quiet --disable-pip-version-check mcp==2.3.0
fi

if wants event-model; then
    echo "== pip install event-model==1.24.0 into .venv-event-model/"
    python3 -m venv .venv-event-model
    .venv-event-model/bin/pip install --quiet --disable-pip-version-check event-model==1.24.0
fi

if wants apt || wants broker; then
    # The broker's own package is only unpacked (below); the libraries it
    # links to are installed, as libraries start nothing. Only packages
    # not installed yet are asked for: nothing installed is upgraded.
    broker_libs=$(apt-cache depends --no-recommends --no-suggests mosquitto 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^lib/ {print $2}' | sort -u)
    packages=()
    for package in chromium curl mosquitto-clients $broker_libs; do
        status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
        if [ "$status" != "install ok installed" ]; then
            packages+=("$package")
        fi
    done
    if [ ${#packages[@]} -gt 0 ]; then
        echo "== apt-get install ${packages[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    fi
fi

if wants broker; then
    echo "== Debian's mosquitto package unpacked into .tools/mosquitto/ (no service)"
    rm -rf .tools/mosquitto .tools/debs
    mkdir -p .tools/debs
    (cd .tools/debs && apt-get download -qq mosquitto)
    dpkg-deb -x .tools/debs/mosquitto_*.deb .tools/mosquitto
    rm -rf .tools/debs
fi
