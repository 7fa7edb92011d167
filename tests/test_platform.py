"""The API platform: one error shape, request ids, probes, OpenAPI, pagination."""

import json

import pytest

ERROR_KEYS = {"code", "status", "error", "message", "message_zh", "errors"}


def assert_error(response, status, error):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, "errors are JSON, never HTML"
    assert set(response.json) == ERROR_KEYS
    assert response.json["code"] == status
    assert response.json["error"] == error
    assert response.json["message"] and response.json["message_zh"]


def test_unknown_route_is_a_json_404(client):
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(client):
    response = client.delete("/api/v1/auth/login")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/auth/login", data='{"phone": ', content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_every_json_body_documents_the_400(client):
    documented = []
    for path, operations in client.get("/api/openapi.json").json["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":  # path-level parameters, not an operation
                continue
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert "400" in operation["responses"], f"{method.upper()} {path}"
                documented.append(path)
    assert "/api/v1/auth/login" in documented and len(documented) >= 20


def test_unknown_fields_are_rejected(client):
    response = client.post(
        "/api/v1/auth/login",
        json={"phone": "13900000001", "password": "x", "device_id": "d", "admin": True},
    )
    assert_error(response, 422, "validation_error")
    assert response.json["errors"] == {"admin": ["Unknown field."]}


def test_wrong_types_are_rejected_field_by_field(client):
    response = client.post(
        "/api/v1/auth/login", json={"phone": 139, "password": ["x"], "device_id": ""}
    )
    assert_error(response, 422, "validation_error")
    assert set(response.json["errors"]) == {"phone", "password", "device_id"}


def test_oversized_json_body_is_413(client, app):
    big = json.dumps({"phone": "1" * (app.config["MAX_JSON_BYTES"] + 10)})
    response = client.post("/api/v1/auth/login", data=big, content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_oversized_upload_is_413(client, app, world, make):
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(
        "/api/v1/auth/login",
        data=body,
        content_type="application/octet-stream",
        headers=make.headers(world.admin),
    )
    assert_error(response, 413, "payload_too_large")


def test_every_response_carries_a_request_id(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    echoed = client.get("/healthz", headers={"X-Request-ID": "phone-abc-123"})
    assert echoed.headers["X-Request-ID"] == "phone-abc-123"
    # Anything odd is replaced rather than echoed into logs and headers.
    odd = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert odd.headers["X-Request-ID"] != "<script>alert(1)</script>"


def test_log_lines_are_json_with_the_request_id(client, capsys):
    client.get("/healthz", headers={"X-Request-ID": "trace-me-12345"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    access = [line for line in lines if line.get("logger") == "server.access"]
    # The testing config logs WARNING and above, so access lines may be filtered:
    for line in access:
        assert line["request_id"] == "trace-me-12345"


def test_probes(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_openapi_spec_and_docs_are_served(client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/auth/login" in spec["paths"]
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    assert "Error" in spec["components"]["schemas"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"/api/docs/assets/swagger-ui-bundle.js" in docs.data
    # The docs work offline: their scripts are served by the app, not a CDN.
    bundle = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.data) > 100_000
    bundle.close()


UPLOADS = {  # operation: (a form field, the file field)
    "/api/v1/checkins": ("captured_at", "photos"),
    "/api/v1/checkins/batch": ("items", "photos"),
    "/api/v1/assignments/{assignment_id}/arrival": ("captured_at", "photos"),
    "/api/v1/problems/{problem_id}/submit": ("note", "photos"),
    "/api/v1/cases/{case_id}/answers": ("kind", "attachments"),
}


@pytest.mark.parametrize("path", UPLOADS)
def test_an_upload_documents_its_form_fields_and_files_as_one_multipart_body(client, path):
    spec = client.get("/api/openapi.json").json
    operation = spec["paths"][path]["post"]
    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    field, files = UPLOADS[path]
    assert {field, files} <= set(body["properties"])
    assert body["properties"][files]["items"]["format"] == "binary"
    # No OpenAPI 2 leftovers: OpenAPI 3 has no `formData` parameters.
    assert all(p["in"] != "formData" for p in operation.get("parameters", []))


def test_no_operation_has_openapi_2_form_parameters(client):
    spec = client.get("/api/openapi.json").json
    for operations in spec["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                assert all(p.get("in") != "formData" for p in operation.get("parameters", []))


def test_security_headers(client):
    response = client.get("/api/v1/regions")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("page_size, pages", [(1, 2), (2, 1), (200, 1)])
def test_lists_are_paginated_with_headers(client, make, world, page_size, pages):
    response = client.get(
        f"/api/v1/units?page=1&page_size={page_size}", headers=make.headers(world.admin)
    )
    meta = json.loads(response.headers["X-Pagination"])
    assert meta["total"] == 2 and meta["total_pages"] == pages
    assert len(response.json) == min(page_size, 2)


def test_page_size_is_capped(client, make, world):
    response = client.get("/api/v1/units?page_size=201", headers=make.headers(world.admin))
    assert_error(response, 422, "validation_error")


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path, app_session):
    from config import TestingConfig
    from server import create_app

    unreachable = f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=unreachable)
    response = app.test_client().get("/readyz")
    assert_error(response, 503, "not_ready")
    assert app.test_client().get("/healthz").status_code == 200
    with app.app_context():
        from server.extensions import db

        db.engine.dispose()


@pytest.mark.parametrize(
    "env, complaint",
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "x" * 40}, "DATABASE_URL"),
    ],
)
def test_production_refuses_to_start_with_default_settings(monkeypatch, env, complaint):
    import importlib

    import config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fresh = importlib.reload(config)
    try:
        with pytest.raises(RuntimeError, match=complaint):
            fresh.ProductionConfig.check()
    finally:
        monkeypatch.undo()
        importlib.reload(config)
