"""Uploads and request size limits: files arrive only as uploads, never as server paths.

Two limits apply. Each route group caps its whole request body while the body streams in
(`api_route`), so an oversize request is refused (413) before FastAPI spools it to disk; then
each uploaded file is capped on its own (`save_upload`) so the 413 can name the field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import HTTPException, UploadFile
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from ...errors import InputError, SonicError
from .auth import required_auth
from .errors import error_response, http_error

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_AUDIO_BYTES = 200 * 1024 * 1024
MAX_EVIDENCE_BYTES = 200 * 1024 * 1024
FORM_SLACK_BYTES = 1024 * 1024  # multipart boundaries and the small text fields
SMALL_BODY_BYTES = 64 * 1024  # routes without uploads
_CHUNK = 1024 * 1024
# Python's json parser recurses once per level and gives up near a thousand levels
NESTED_TOO_DEEP = "JSON nested too deeply (at most a few hundred levels)"


def save_upload(upload: UploadFile, target: Path, limit: int, field: str) -> Path:
    """Copy an upload to `target` (plus the upload's own extension, so the manifest's
    ingredient title reads like the user's file; formats are told by content, not by it),
    refusing (413) anything over `limit` bytes."""
    ext = "".join(c for c in Path(upload.filename or "").suffix.lower() if c.isalnum())[:8]
    path = target.with_name(f"{target.name}.{ext}" if ext else target.name)
    written = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise too_large(limit, field)
            out.write(chunk)
    return path


def too_large(limit: int, field: str | None = None) -> HTTPException:
    what = f"{field}: over" if field else "request body over"
    extra = {"field": field} if field else {}
    return http_error(413, "too_large", f"{what} {limit:,} bytes", **extra)


def api_route(max_bytes: int) -> type[APIRoute]:
    """The route class of every API route: requests carry at most `max_bytes` of body, and a
    service error (SonicError) becomes its HTTP error here, once, for every route.

    A route that needs an API user answers 401 from the headers, before any body is read. A
    declared Content-Length over the limit is refused before anything is read; a body without
    one (chunked) is counted as it arrives and refused as soon as it passes the limit. JSON
    nested deeper than the parser recurses is a 422, not a 400 or a 500.
    """

    class SonicApiRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            handler = super().get_route_handler()
            auth = required_auth(self.dependant)

            async def limited(request: Request) -> Response:
                if auth is not None:  # FastAPI reads the body before dependencies run
                    await auth.check_request(request)
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise too_large(max_bytes)
                try:
                    return await handler(Request(request.scope,
                                                 _counted(request.receive, max_bytes)))
                except SonicError as exc:
                    raise error_response(exc) from None
                except StarletteHTTPException as exc:  # FastAPI's 400: an unparsable body
                    if isinstance(exc.__cause__, RecursionError):
                        raise error_response(InputError("body", NESTED_TOO_DEEP)) from None
                    raise

            return limited

    SonicApiRoute.__name__ = SonicApiRoute.__qualname__ = f"SonicApiRoute{max_bytes}"
    return SonicApiRoute


def _counted(receive: Receive, max_bytes: int) -> Receive:
    received = 0

    async def counting() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise too_large(max_bytes)  # FastAPI re-raises HTTPException from body parsing
        return message

    return counting
