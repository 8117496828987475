"""The served OpenAPI document: every route tagged, examples for requests, responses and errors,
and the generation parameters described with the same texts as the CLI and the UI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import httpx
import pytest

from sonic_ext import SonicService
from sonic_ext.adapters.api import models as api_models
from sonic_ext.adapters.api.models import CONSENT_EXAMPLE, ERROR_EXAMPLES
from sonic_ext.contracts import PARAM_HELP, GenerationParams
from tests.api.conftest import Serve


@pytest.fixture
def spec(serve: Serve, admin_service: SonicService) -> Iterator[dict[str, Any]]:
    with serve(admin_service) as base:
        yield httpx.get(f"{base}/openapi.json").json()


def _example(operation: dict[str, Any], status: str, media: str = "application/json") -> Any:
    return operation["responses"][status]["content"][media]["example"]


def test_every_route_is_tagged_and_summarised(spec: dict[str, Any]) -> None:
    operations = {(method.upper(), path): op for path, item in spec["paths"].items()
                  for method, op in item.items()}
    assert set(operations) == {
        ("POST", "/sonic/v1/generate"), ("GET", "/sonic/v1/params"), ("GET", "/sonic/v1/jobs"),
        ("GET", "/sonic/v1/presets"),
        ("GET", "/sonic/v1/jobs/{job_id}"), ("DELETE", "/sonic/v1/jobs/{job_id}"),
        ("GET", "/sonic/v1/jobs/{job_id}/video"), ("GET", "/sonic/v1/jobs/{job_id}/report"),
        ("POST", "/sonic/v1/verify"), ("POST", "/sonic/v1/sync-check"),
        ("POST", "/sonic/v1/batches"), ("GET", "/sonic/v1/batches/{batch_id}"), ("GET", "/sonic/v1/consents"),
        ("POST", "/sonic/v1/consents"), ("GET", "/sonic/v1/consents/{consent_id}"),
        ("POST", "/sonic/v1/consents/{consent_id}/revoke"),
        ("POST", "/sonic/v1/consents/{consent_id}/amend"), ("GET", "/sonic/v1/consents/granted"),
        ("POST", "/sonic/v1/consents/check"), ("GET", "/sonic/v1/audit/verify"),
        ("GET", "/sonic/v1/health"), ("GET", "/sonic/v1/models"), ("GET", "/sonic/v1/workers"),
        ("GET", "/sonic/v1/consent-status")}
    for key, op in operations.items():
        assert len(op["tags"]) == 1 and op["summary"], key
    assert operations[("POST", "/sonic/v1/consents")]["tags"] == ["consent"]
    for user_route in (("GET", "/sonic/v1/consents/granted"), ("POST", "/sonic/v1/consents/check")):
        assert {"APIKeyHeader": []} not in operations[user_route]["security"], user_route


def test_generate_job_verify_and_consent_routes_carry_examples(spec: dict[str, Any]) -> None:
    paths = spec["paths"]
    generate = paths["/sonic/v1/generate"]["post"]
    form = generate["requestBody"]["content"]["multipart/form-data"]
    assert form["example"]["purpose"] == "education"
    assert form["example"]["consent_id"] == [CONSENT_EXAMPLE["id"]]
    assert "consent_id" in spec["components"]["schemas"][form["schema"]["$ref"].split("/")[-1]][
        "properties"]
    assert _example(generate, "202")["status_url"] == "jobs/3f9c2a7d51e04b6a"
    assert _example(generate, "403") == ERROR_EXAMPLES[403]
    assert _example(generate, "413")["detail"]["code"] == "too_large"
    assert _example(generate, "422")["detail"]["field"] == "steps"
    assert _example(paths["/sonic/v1/jobs/{job_id}"]["get"], "200")["progress"]["eta_s"] == 41.4
    assert _example(paths["/sonic/v1/jobs"]["get"], "200")["jobs"][0]["state"] == "done"
    assert _example(paths["/sonic/v1/verify"]["post"], "200")["verdict"] == "authentic"
    assert _example(paths["/sonic/v1/consents"]["post"], "201")["id"] == CONSENT_EXAMPLE["id"]
    assert _example(paths["/sonic/v1/consents/{consent_id}"]["get"], "200")["history"]
    assert _example(paths["/sonic/v1/audit/verify"]["get"], "200")["ok"] is True
    revoke = paths["/sonic/v1/consents/{consent_id}/revoke"]["post"]
    assert _example(revoke, "200")["status"] == "revoked"
    assert _example(revoke, "409")["detail"]["code"]
    amend = paths["/sonic/v1/consents/{consent_id}/amend"]["post"]
    assert _example(amend, "201")["supersedes"] == CONSENT_EXAMPLE["id"]
    assert "evidence" in _form_fields(spec, amend)
    check = paths["/sonic/v1/consents/check"]["post"]
    assert _example(check, "200")["decision"]["passed"] is True
    assert _example(check, "403")["detail"]["decision"]["rule"] == "not-granted"
    assert _form_fields(spec, check) >= {"image", "consent_id", "purpose", "params"}
    granted = _example(paths["/sonic/v1/consents/granted"]["get"], "200")["consents"][0]
    assert "evidence_sha256" not in granted and "grantees" not in granted
    assert {"grantees", "subject_id"} <= _form_fields(spec, paths["/sonic/v1/consents"]["post"])
    schemas = spec["components"]["schemas"]
    assert schemas["RevokeRequest"]["properties"]["reason"]["examples"]
    assert "video/mp4" in paths["/sonic/v1/jobs/{job_id}/video"]["get"]["responses"]["200"][
        "content"]


def _form_fields(spec: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """The form's fields; FastAPI 0.104 wraps a body of optional fields in `allOf`."""
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    ref = schema.get("$ref") or schema["allOf"][0]["$ref"]
    return set(spec["components"]["schemas"][ref.split("/")[-1]]["properties"])


def _model_name(ref: str) -> str:
    """A schema's model: pydantic 2 under FastAPI 0.104 names them `Model-Input`/`-Output`."""
    return ref.split("/")[-1].removesuffix("-Input").removesuffix("-Output")


def test_every_response_example_is_valid_for_its_model(spec: dict[str, Any]) -> None:
    """Each example parses as the model the route documents, under this pydantic (1 or 2)."""
    schemas = {_model_name(name): getattr(api_models, _model_name(name))
               for name in spec["components"]["schemas"]
               if isinstance(getattr(api_models, _model_name(name), None), type)}
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json", {})
                ref = content.get("schema", {}).get("$ref", "")
                if "example" not in content or not ref:
                    continue
                model = schemas[_model_name(ref)]
                model(**content["example"])  # raises ValidationError when it does not fit
                checked += 1
    assert checked >= 20
    assert {k for k in api_models.CONSENT_EXAMPLE} == set(api_models.Consent.__annotations__)


def test_generation_parameters_are_described_with_the_shared_help(spec: dict[str, Any]
                                                                  ) -> None:
    schema = spec["components"]["schemas"]["GenerationParams"]["properties"]
    assert {name: field["description"] for name, field in schema.items()} == PARAM_HELP
    assert {name: field["default"] for name, field in schema.items()} == \
        asdict(GenerationParams())


def test_both_credentials_are_declared(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBasic"]["scheme"] == "basic"
    assert {"type": "apiKey", "in": "header", "name": "X-Sonic-Admin-Token"}.items() <= \
        schemes["APIKeyHeader"].items()
    consents = spec["paths"]["/sonic/v1/consents"]["get"]
    assert {"APIKeyHeader": []} in consents["security"] and {"HTTPBasic": []} in \
        consents["security"]
