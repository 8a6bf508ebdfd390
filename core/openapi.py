"""Schema post-processing: every operation documents its problem responses."""

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

COMMON_PROBLEMS = {
    "400": "The request is not valid; see `errors`.",
    "401": "No valid API key.",
    "403": "Not allowed for this API key.",
    "404": "Not found, or not yours.",
    "405": "Method not allowed.",
    "415": "Send `application/json`.",
    "429": "Too many requests; see `Retry-After`.",
}


def add_problem_responses(result, generator, request, public):
    result["components"]["schemas"]["Problem"] = PROBLEM_SCHEMA
    reference = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_PROBLEMS.items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    response.setdefault("description", "A problem.")
                    response["content"] = {"application/problem+json": {"schema": reference}}
    return result
