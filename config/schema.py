"""OpenAPI postprocessing: the error responses and input rules the server enforces.

drf-spectacular documents success bodies from the serializers; what the server refuses
is enforced elsewhere (StrictFieldsMixin, StrictFilterSet, the pagination bounds, the
error handler). This hook writes those rules into the schema so the schema and the
server agree, which the schemathesis fuzzer in the suite holds them to:

- every operation lists the 4xx it can answer (400/401/403/404/409/413/415/422/429) and
  503, each with the one error shape (`Error`); 429 and 503 carry `Retry-After`;
- request bodies refuse unknown fields (`additionalProperties: false`), as the server does;
- filter parameters refuse empty values (`minLength: 1`), as StrictFilterSet does.
"""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer", "minimum": 1},
    }
}
DESCRIPTIONS = {
    "400": "Malformed JSON, a wrong or unknown field, an invalid filter or cursor.",
    "401": "Not authenticated, or the token is invalid, expired or revoked.",
    "403": "Your role in this organization is too low for this action.",
    "404": "No such object in your organizations (other tenants' objects answer 404 too).",
    "409": "The object's state forbids the change, or a duplicate (codes in `errors`).",
    "413": "The request body or file is larger than the limit.",
    "415": "Unsupported media type, or a file that is not a bank statement.",
    "422": "Well-formed but cannot be processed (e.g. a statement that cannot be parsed).",
    "429": "Too many failed logins; retry after `Retry-After` seconds.",
    "503": "A backing service (the database) is unavailable; retry later.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}
PUBLIC = {"/v1/auth/token", "/v1/schema", "/v1/docs"}
NOT_A_FILTER = {"cursor", "ordering", "limit", "offset", "format"}
# Bodies whose fields are each optional but not all at once ("send status and/or note").
AT_LEAST_ONE_FIELD = {"DiscrepancyUpdateInputRequest"}


def _error_components() -> dict[str, Any]:
    return {
        "Error": {
            "type": "object",
            "description": "The one error shape (API.md). Domain errors add the ids a "
            "client needs at top level (e.g. `source_file`).",
            "required": ["type", "errors"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": ["client_error", "validation_error", "server_error"],
                },
                "errors": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/components/schemas/ErrorDetail"},
                },
            },
            "additionalProperties": True,
        },
        "ErrorDetail": {
            "type": "object",
            "required": ["code", "detail", "attr"],
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "detail": {"type": "string"},
                "attr": {"type": "string", "nullable": True, "example": "ledger_id"},
            },
        },
    }


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    if path == "/v1/auth/token":
        return ["400", "401", "413", "415", "429", "503"]
    has_body = "requestBody" in operation
    has_query = any(p.get("in") == "query" for p in operation.get("parameters", []))
    statuses = ["401", "403", "404", "503"]
    if has_body or has_query or method in WRITE_METHODS:
        statuses.append("400")
    if method in WRITE_METHODS:
        statuses += ["409", "413", "415"]
    if path.endswith("/sources/upload"):
        statuses.append("422")
    return statuses


def _error_response(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": ERROR}},
    }
    if status in {"429", "503"}:
        response["headers"] = RETRY_AFTER
    return response


def postprocess_errors_and_strict_inputs(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_error_components())
    for name, component in schemas.items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
        if name in AT_LEAST_ONE_FIELD:
            component["minProperties"] = 1
        if name.endswith("Request"):
            for prop in component.get("properties", {}).values():
                # DRF trims text, so a required text of only spaces is blank: say so.
                plain = not ({"format", "enum", "pattern", "$ref"} & set(prop))
                if prop.get("type") == "string" and prop.get("minLength", 0) >= 1 and plain:
                    prop["pattern"] = r"\S"
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if path in PUBLIC - {"/v1/auth/token"}:
                continue
            body_ref = (
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema", {})
                .get("$ref", "")
            )
            if body_ref.rsplit("/", 1)[-1] in AT_LEAST_ONE_FIELD:
                operation["requestBody"]["required"] = True
            for status in _statuses(path, method, operation):
                operation["responses"].setdefault(status, _error_response(status))
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") != "query" or parameter["name"] in NOT_A_FILTER:
                    continue
                if schema.get("type") == "string":
                    schema.setdefault("minLength", 1)
                elif schema.get("type") == "array":
                    parameter["schema"]["minItems"] = 1
                    schema.get("items", {}).setdefault("minLength", 1)
    return result
