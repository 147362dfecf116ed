"""Judge event-model documents with Bluesky's own schemas.

Reads a JSON list of `[name, document]` pairs on stdin (what
`GET /records/export?format=event-model` answers), validates each with the
JSON schema the `event-model` package ships for its name, and checks the
run's structure with event-model's own `RunRouter`-free helpers: every
descriptor names a known start, every event a known descriptor, every
start is stopped. Prints one JSON line: how many of each name, and the
problems found (an empty list when all is well).
"""

import json
import sys
from collections import Counter

import event_model
from event_model import DocumentNames, schema_validators

documents = json.load(sys.stdin)
problems = []
names = Counter()
starts, stops, descriptors = set(), set(), set()
for index, pair in enumerate(documents):
    name, doc = pair
    names[name] += 1
    try:
        schema_validators[DocumentNames[name]].validate(doc)
    except Exception as error:  # noqa: BLE001 - every failure is reported
        problems.append(f"document {index} ({name}): {error.__class__.__name__}: {str(error)[:300]}")
        continue
    if name == "start":
        starts.add(doc["uid"])
    elif name == "descriptor":
        if doc["run_start"] not in starts:
            problems.append(f"descriptor {doc['uid']} names an unknown start")
        descriptors.add(doc["uid"])
    elif name == "event":
        if doc["descriptor"] not in descriptors:
            problems.append(f"event {doc['uid']} names an unknown descriptor")
    elif name == "stop":
        if doc["run_start"] not in starts:
            problems.append(f"stop {doc['uid']} names an unknown start")
        stops.add(doc["run_start"])
for start in starts - stops:
    problems.append(f"start {start} is never stopped")
print(json.dumps({"version": event_model.__version__, "names": names, "problems": problems}))
