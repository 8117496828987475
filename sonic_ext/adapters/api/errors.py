"""One error body for every route: `{"detail": {"code", "message", "hint"?, "field"?}}`.

Raised as `HTTPException`, so the WebUI hosts' own exception handlers (A1111's
`api_middleware`, Forge's handler) keep `detail` as it is and only add keys around it.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from ...errors import SonicError
from ...text import without_server_paths


def error_response(exc: SonicError) -> HTTPException:
    """The HTTP form of a service error: its status and its machine-readable body (server paths
    shortened to file names), with the gate's decision record when the gate refused
    (GateRefused carries it)."""
    detail = {key: without_server_paths(value) if key in ("message", "hint") and value else value
              for key, value in exc.to_dict().items()}
    decision = getattr(exc, "decision", None)
    if decision is not None:
        detail["decision"] = decision.to_dict()
    retry = getattr(exc, "retry_after_s", None)  # RegistryBusy: when to try again
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return HTTPException(exc.http_status, detail=detail, headers=headers)


def http_error(status: int, code: str, message: str, **extra: Any) -> HTTPException:
    """An error the API itself raises (not found, conflict, too large) in the same body."""
    return HTTPException(status, detail={"code": code, "message": message, **extra})
