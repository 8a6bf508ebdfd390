"""An example `data` object for an event type, built from its JSON Schema (the catalog's), for the
portal's event catalog when the customer has no event of that type yet."""

EXAMPLE_STRINGS = {
    "uuid": "01890a5d-ac96-774b-bcce-b302099a8057",
    "date-time": "2026-01-01T12:00:00Z",
    "date": "2026-01-01",
    "uri": "https://example.com/webhooks",
    "email": "customer@example.com",
    "decimal": "125.50",
}
MAX_DEPTH = 8


def example_of(schema: dict, definitions: dict | None = None, depth: int = 0):
    """A value that the schema accepts, in the simplest way: the first enum value, the first of
    `oneOf`/`anyOf`, every property of an object, one item of an array."""
    definitions = schema.get("$defs", {}) if definitions is None else definitions
    if depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        return example_of(definitions.get(schema["$ref"].rsplit("/", 1)[-1], {}), definitions, depth + 1)
    for combined in ("allOf", "oneOf", "anyOf"):
        if schema.get(combined):
            choices = [choice for choice in schema[combined] if choice.get("type") != "null"] or schema[combined]
            return example_of(choices[0], definitions, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        kind = next((name for name in kind if name != "null"), None)
    if kind == "object":
        return {
            name: example_of(property_schema, definitions, depth + 1)
            for name, property_schema in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [example_of(schema.get("items", {}), definitions, depth + 1)]
    if kind == "string":
        if schema.get("format") in EXAMPLE_STRINGS:
            return EXAMPLE_STRINGS[schema["format"]]
        return "125.50" if "pattern" in schema and "\\d" in schema["pattern"] else "string"
    if kind == "integer":
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return None
