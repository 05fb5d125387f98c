"""The OpenAPI 3.1 document of the JSON API (``GET /api/openapi.json``), written by hand
from the shapes ``views`` returns (``/api/pipeline``: ``stageline.usecases.views``, the document
``stageline status --json`` prints too)."""

from __future__ import annotations

from typing import Any

from stageline import __version__
from stageline.limits import NOTE_LIMIT

Schema = dict[str, Any]


def _obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


_S: Schema = {"type": "string"}
_NS: Schema = {"type": ["string", "null"]}
_I: Schema = {"type": "integer"}
_B: Schema = {"type": "boolean"}
_ARR_S: Schema = {"type": "array", "items": _S}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: dict[str, Schema] = {
    "Error": _obj({"error": _S, "hint": _S}, ["error"]),
    "Environment": _obj(
        {
            "name": _S,
            "tier": _S,
            "url": _S,
            "gate": _B,
            "production": _B,
            "version": _NS,
            "tag": _NS,
            "release": _NS,
            "digest": _NS,
            "short": _S,
            "health": {"enum": ["healthy", "unhealthy", "down", "idle", "not deployed"]},
            "deployed_at": _NS,
            "age": _S,
            "deployed_by": _NS,
            "break_glass": _B,
            "restarts": _I,
            "serving": _NS,
            "processes": _I,
            "workers": {"type": "object", "additionalProperties": _S},
            "watching_for": {"type": "number"},
        },
        ["name", "tier", "health"],
    ),
    "SignOff": _obj(
        {
            "state": {"enum": ["passed", "held", "none"]},
            "promote": _B,
            "source": _NS,
            "target": _NS,
            "digest": _NS,
            "short": _S,
            "version": _NS,
            "tag": _NS,
            "release": _NS,
            "gates": {
                "type": "array",
                "items": _obj(
                    {"name": _S, "status": {"enum": ["passed", "failed", "error", "pending"]}}
                ),
            },
            "approvals": _obj({"in": _I, "required": _I, "people": _ARR_S}),
            "approvals_required": _I,
            "reviewers": _ARR_S,
            "holds": {"type": "array", "items": _obj({"reason": _S, "clear": _S})},
            "verdicts": {"type": "array", "items": _ref("Verdict")},
            "can_sign_off": _B,
            "promoted": _B,
        },
        ["state", "gates", "approvals", "holds"],
    ),
    "Pipeline": _obj(
        {
            "service": _S,
            "build": {"type": ["object", "null"]},
            "latest_artifact": _NS,
            "environments": {"type": "array", "items": _ref("Environment")},
            "signoff": _ref("SignOff"),
            "time_gap": {"type": ["object", "null"]},
            "people": {"type": "array", "items": {"type": "object"}},
            "rehearsals": _ARR_S,
        },
        ["service", "environments", "signoff"],
    ),
    "Verdict": _obj(
        {
            "person": _S,
            "kind": {"enum": ["approve", "reject"]},
            "note": _S,
            "environment": _S,
            "digest": _S,
            "at": _S,
            "withdrawn_at": _NS,
        },
    ),
    "Deployment": _obj(
        {
            "id": _I,
            "environment": _S,
            "digest": _S,
            "short": _S,
            "version": _NS,
            "kind": _S,
            "status": _S,
            "actor": _S,
            "started_at": _S,
            "finished_at": _NS,
            "detail": _S,
        },
    ),
    "GateRun": _obj(
        {
            "id": _I,
            "environment": _S,
            "gate": _S,
            "kind": _S,
            "status": {"enum": ["passed", "failed", "error"]},
            "started_at": _S,
            "finished_at": _S,
            "duration": {"type": "number"},
            "summary": _S,
            "evidence": {"type": "object"},
            "rehearsal": {"type": ["object", "null"]},
        },
    ),
    "Event": _obj(
        {
            "id": _I,
            "at": _S,
            "actor": _S,
            "kind": _S,
            "environment": _NS,
            "digest": _NS,
            "data": {"type": "object"},
            "text": _S,
        },
    ),
    "Release": _obj(
        {
            "digest": _S,
            "short": _S,
            "version": _S,
            "artifact": {"type": "object"},
            "manifest": {"type": ["object", "null"]},
            "deployments": {"type": "array", "items": _ref("Deployment")},
            "gate_runs": {"type": "array", "items": _ref("GateRun")},
            "verdicts": {"type": "array", "items": _ref("Verdict")},
            "audit": {"type": "array", "items": _ref("Event")},
        },
        ["digest", "deployments", "gate_runs", "verdicts", "audit"],
    ),
    "History": _obj(
        {
            "environment": _NS,
            "status": _NS,
            "limit": _I,
            "environments": _ARR_S,
            "statuses": _ARR_S,
            "deployments": {"type": "array", "items": _ref("Deployment")},
        },
    ),
    "Audit": _obj({"environment": _NS, "events": {"type": "array", "items": _ref("Event")}}),
    "Metrics": _obj(
        {
            "since": _S,
            "until": _S,
            "production": _NS,
            "deployment_frequency": {"type": "array", "items": {"type": "object"}},
            "lead_time": {"type": "object"},
            "changes": _I,
            "failures": _I,
            "change_failure_rate": {"type": ["number", "null"]},
            "time_to_restore": {"type": "object"},
            "days": _I,
            "production_per_day": {"type": "array", "items": _I},
        },
    ),
    "VerdictRequest": _obj(
        {
            "kind": {"enum": ["approve", "reject"]},
            "note": {**_S, "maxLength": NOTE_LIMIT},
            "digest": _S,
        },
        ["kind"],
    ),
    "VerdictGiven": _obj({"verdict": _ref("Verdict"), "signoff": _ref("SignOff")}),
}


def _json(name: str, description: str = "OK") -> Schema:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Schema]:
    text = {400: "bad input", 401: "no or bad token", 403: "refused", 404: "not found"}
    return {str(code): _json("Error", text[code]) for code in codes}


def _param(name: str, where: str = "query", description: str = "") -> Schema:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": _I if name in ("limit", "days") else _S,
        "description": description,
    }


def _get(summary: str, schema: str, params: list[Schema], *codes: int) -> Schema:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {"200": _json(schema), **_errors(401, *codes)},
        }
    }


def document() -> Schema:
    """The whole OpenAPI 3.1 document."""
    digest = _param("digest", "path", "full digest or a unique prefix of at least 12 hex")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stageline dashboard API",
            "version": __version__,
            "description": "The pipeline, releases, history, metrics and audit log of one "
            "stageline service, and sign-off. Reads take a personal token (or a session) "
            'unless the pipeline file says [dashboard] anonymous = "read" and the dashboard '
            "listens on loopback; sign-off takes a personal token.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`stageline tokens create NAME`",
                }
            },
        },
        "paths": {
            "/api/pipeline": _get("Every stage, its health, and the sign-off", "Pipeline", []),
            "/api/releases/{digest}": _get(
                "One release: manifest, deployments, gate runs with evidence, verdicts, audit",
                "Release",
                [digest],
                400,
                404,
            ),
            "/api/history": _get(
                "Deployments, newest first",
                "History",
                [_param("environment"), _param("status"), _param("limit")],
                400,
                404,
            ),
            "/api/metrics": _get("DORA figures", "Metrics", [_param("days")]),
            "/api/audit": _get(
                "The audit log, newest first",
                "Audit",
                [_param("environment"), _param("limit")],
                400,
                404,
            ),
            "/api/environments/{env}/verdicts": {
                "post": {
                    "summary": "Approve or reject the digest serving in env (the CLI's rules;"
                    " a `digest` given must be it)",
                    "security": [{"token": []}],
                    "parameters": [_param("env", "path", "an environment name")],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("VerdictRequest")}},
                    },
                    "responses": {
                        "201": _json("VerdictGiven", "given"),
                        **_errors(400, 401, 403, 404),
                    },
                },
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1"}},
                },
            },
        },
    }
