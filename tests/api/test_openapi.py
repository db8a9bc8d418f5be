"""The OpenAPI document: valid 3.1, every API route in it, and a page for people."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from tests.api import contract
from tests.api.test_access import api_routes


def test_the_document_is_valid_openapi_3_1(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")  # public: no token needed to read it
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_route_is_in_the_document_and_nothing_else(app: Flask) -> None:
    doc = contract.document(app)
    routes = {
        (contract.openapi_path(rule), method.lower())
        for method, rule, endpoint in api_routes(app)
        if endpoint != "api.docs"  # the human page about the document
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented


def test_every_operation_documents_its_problems(app: Flask) -> None:
    doc = contract.document(app)
    for path, ops in doc["paths"].items():
        for method, spec in ops.items():
            if spec["security"]:
                assert {"401", "403", "429", "500"} <= set(spec["responses"]), (method, path)


def test_each_answer_says_what_its_status_means_and_the_headers_it_carries(app: Flask) -> None:
    """A 202 is "Accepted", not "OK"; a 405 carries Allow, a 401 WWW-Authenticate, a 429
    Retry-After, as the API really answers."""
    doc = contract.document(app)
    members = doc["paths"]["/api/v1/members"]["post"]["responses"]
    assert members["202"]["description"] == "Accepted"
    assert doc["paths"]["/api/v1/members/{ref}"]["delete"]["responses"]["204"]["description"] == (
        "No Content"
    )
    assert set(members["405"]["headers"]) == {"Allow"}
    assert set(members["401"]["headers"]) == {"WWW-Authenticate"}
    assert set(members["429"]["headers"]) == {"Retry-After"}


def test_the_docs_page_lists_every_operation_without_outside_resources(
    app: Flask, client: FlaskClient
) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    for path in contract.document(app)["paths"]:
        assert path in page.text
    assert "http://" not in page.text and "https://" not in page.text and "<script" not in page.text
