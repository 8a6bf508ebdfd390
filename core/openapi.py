"""Schema post-processing: every operation documents its problem responses, and each create
operation links to what can be done with what it created (OpenAPI links: client generators
and stateful testers follow them)."""

import re

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem document.",
    "properties": {
        "type": {"type": "string", "description": "A URI reference naming the problem type."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Validation errors: field path → messages.",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "detail"],
}

BODY_METHODS = {"post", "put", "patch"}

COMMON_PROBLEMS = {
    "400": "The request is not valid; see `errors`.",
    "401": "No valid API key.",
    "403": "Not allowed for this API key.",
    "404": "Not found, or not yours.",
    "405": "Method not allowed.",
    "406": "Ask for `application/json` (or send no `Accept`).",
    "415": "Send `application/json`.",
    "429": "Too many requests; see `Retry-After`.",
}


def add_problem_responses(result, generator, request, public):
    result["components"]["schemas"]["Problem"] = PROBLEM_SCHEMA
    reference = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_PROBLEMS.items():
                responses.setdefault(status, {"description": description})
            if method in BODY_METHODS:
                responses.setdefault("413", {"description": "The request body is too large."})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response.setdefault("description", "A problem.")
                    response["content"] = {"application/problem+json": {"schema": reference}}
    return result


def require_one_of_bodies(result, generator, request, public):
    """A request body that must take one of several shapes, each with fields it requires, is
    itself required (drf-spectacular marks a body given as a raw schema optional)."""
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            for media in (body or {}).get("content", {}).values():
                shapes = media.get("schema", {}).get("oneOf")
                if shapes and all(shape.get("required") for shape in shapes):
                    body["required"] = True
    return result


def add_links(result, generator, request, public):
    """A 201 with an `id` links to every operation on `<its path>/{id}`; registering links to
    asking for a key with the same username and password."""
    paths = result.get("paths", {})
    for path, path_item in paths.items():
        created = path_item.get("post", {}).get("responses", {}).get("201")
        if created is None:
            continue
        links = {}
        for other_path, other_item in paths.items():
            if not other_path.startswith(f"{path}/{{id}}") or set(re.findall(r"{(\w+)}", other_path)) != {"id"}:
                continue
            for operation in other_item.values():
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": {"id": "$response.body#/id"},
                }
        if links:
            created["links"] = links
    registration = paths.get("/v1/users", {}).get("post", {}).get("responses", {}).get("201")
    if registration is not None:
        registration["links"] = {
            "create_api_key": {
                "operationId": "create_api_key",
                "requestBody": {"username": "$request.body#/username", "password": "$request.body#/password"},
            }
        }
    return result


NO_NUL = "^[^\\x00]*$"  # DRF's CharField refuses NUL characters (PostgreSQL cannot store them)
# What str.strip() takes away (str.isspace), spelt out: JSON Schema's `\s` (ECMA-262) is another set.
SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"^[^\\x00]*[^\\x00{SPACE}][^\\x00]*$"  # DRF trims, then refuses what is left empty


def text_as_drf_reads_it(result, generator, request, public):
    """Say in the schema what every text field of a request enforces: no NUL character, and, where
    it may not be blank (minLength), something besides white space, which DRF's CharField strips
    before it checks. Applied to request bodies' and query parameters' free-text strings (no format,
    enum or pattern of their own)."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            for field in component.get("properties", {}).values():
                _constrain(field)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                _constrain(parameter.get("schema", {}))
    return result


def _constrain(schema: dict) -> None:
    if schema.get("type") == "string" and not {"format", "enum", "pattern", "$ref"} & schema.keys():
        schema["pattern"] = NOT_BLANK if schema.get("minLength", 0) > 0 else NO_NUL
