"""Validate an OpenAPI document with openapi-spec-validator (a validator
nobody here wrote): the OpenAPI 3.1 meta-schema and every $ref resolved.

    python tests/interop/validate_openapi.py DOCUMENT.json

Prints "valid" and exits 0, or prints the first problem and exits 1.
"""

import json
import sys

from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as file:
        document = json.load(file)
    if document.get("openapi", "").split(".")[:2] != ["3", "1"]:
        print(f"not OpenAPI 3.1: openapi = {document.get('openapi')!r}")
        return 1
    try:
        validate(document)
    except OpenAPIValidationError as error:
        print(f"invalid: {str(error)[:2000]}")
        return 1
    except Exception as error:  # noqa: BLE001 - e.g. an unresolvable $ref
        print(f"invalid: {type(error).__name__}: {str(error)[:300]}")
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
