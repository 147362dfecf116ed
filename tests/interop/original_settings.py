"""Write a settings file the way LabThings-FastAPI 0.3.0 does: serve a stage
whose `steps_per_um` is a setting, with the original's own ThingServer,
and write the setting through its HTTP API (its TestClient).

    python tests/interop/original_settings.py SETTINGS_FOLDER VALUE

Leaves SETTINGS_FOLDER/stage/Settings-Stage.json, as a lab moving to
labthings has it, and prints its path.
"""

import sys

import labthings_fastapi as lt
from fastapi.testclient import TestClient


class Stage(lt.Thing):
    """A stage with a calibration."""

    steps_per_um: float = lt.setting(default=1.0)
    """Motor steps per micrometre."""


folder, value = sys.argv[1], float(sys.argv[2])
server = lt.ThingServer({"things": {"stage": Stage}, "settings_folder": folder})
with TestClient(server.app) as client:
    response = client.put("/stage/steps_per_um", json=value)
    response.raise_for_status()
    assert client.get("/stage/steps_per_um").json() == value
print(f"{folder}/stage/Settings-Stage.json")
