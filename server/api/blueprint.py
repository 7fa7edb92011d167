"""flask-smorest's Blueprint, documenting a multipart upload as one request body.

A view that takes form fields and files (`@blp.arguments(..., location="form")` and
`@blp.arguments(..., location="files")`) receives one multipart/form-data body. Plain
flask-smorest documents only the first of the two as OpenAPI 3's requestBody and leaves
the other as OpenAPI 2 `formData` parameters, which OpenAPI 3 does not have: a client
(or the fuzzer) reading the document never learns the form fields. This Blueprint
documents them together, as one multipart/form-data body with the fields of both
schemas (merged, not `allOf`: each schema forbids properties it does not name, so
`allOf` of the two would admit no body at all).
"""

from collections import abc

from apispec.ext.marshmallow.common import resolve_schema_instance
from flask_smorest import Blueprint as SmorestBlueprint

MULTIPART_PARTS = ("form", "files")


class Blueprint(SmorestBlueprint):
    def _prepare_arguments_doc(self, doc, doc_info, *, api, spec, **kwargs):
        operation = doc_info.get("arguments")
        if operation and spec.openapi_version.major >= 3:
            parts = [
                p
                for p in operation["parameters"]
                if isinstance(p, abc.Mapping) and p.get("in") in MULTIPART_PARTS
            ]
            if len(parts) > 1:
                merged = {
                    "in": "files",
                    "required": any(p.get("required") for p in parts),
                    "schema": _one_object([p["schema"] for p in parts], api),
                    "content_type": "multipart/form-data",
                }
                rest = [p for p in operation["parameters"] if all(p is not q for q in parts)]
                operation["parameters"] = [merged, *rest]
        return super()._prepare_arguments_doc(doc, doc_info, api=api, spec=spec, **kwargs)


def _one_object(schemas, api):
    """One JSON schema object with the properties and required names of all."""
    converted = [
        api.ma_plugin.converter.schema2jsonschema(resolve_schema_instance(schema))
        for schema in schemas
    ]
    merged = {"type": "object", "properties": {}}
    required = []
    for schema in converted:
        merged["properties"].update(schema.get("properties", {}))
        required += schema.get("required", [])
    if required:
        merged["required"] = sorted(set(required))
    if all(schema.get("additionalProperties") is False for schema in converted):
        merged["additionalProperties"] = False
    return merged
