"""Errors a caller can catch by type; each knows the CLI exit code and HTTP status it maps to.

Every surface (CLI, API, UI) turns these into its own form, so the wording a user sees is
written once, here or where the error is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager


class SonicError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1
    http_status = 500
    code = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def to_dict(self) -> dict[str, object]:
        """Machine-readable form shared by `--json` output and API error bodies."""
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        return body


class InputError(SonicError):
    """Bad input or usage: names the argument or field and what is wrong with it."""

    exit_code = 2
    http_status = 422
    code = "bad_input"

    def __init__(self, field: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{field}: {problem}", hint=hint)
        self.field = field
        self.problem = problem

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "field": self.field}


class NotFound(InputError):
    """An id that names nothing (or nothing the caller may see: the answer is the same)."""

    http_status = 404
    code = "not_found"


class Conflict(InputError):
    """A change the record's current state does not allow, e.g. revoking twice."""

    http_status = 409
    code = "conflict"


class ConsentRefused(SonicError):
    """The consent gate said no; the message says why and what would make it pass."""

    exit_code = 3
    http_status = 403
    code = "consent_refused"


class AdminRequired(SonicError):
    """A consent change through the API or UI without the installation's admin token."""

    exit_code = 3
    http_status = 403
    code = "admin_required"


class NotAvailable(SonicError):
    """A capability this build or installation does not have (missing component or models)."""

    code = "not_available"
    http_status = 503


class RegistryBusy(SonicError):
    """The consent registry stayed locked by another writer longer than we wait: a moment's
    congestion (or a stuck process), not a fault of the request; try again."""

    code = "registry_busy"
    http_status = 503
    retry_after_s = 30


class PortInUse(SonicError):
    """`serve` cannot listen: another program holds the address (its own exit code, so a
    supervisor does not read it as a consent refusal or bad input)."""

    exit_code = 4
    http_status = 500
    code = "port_in_use"


class ModelsMissing(NotAvailable):
    """Model files are absent or wrong; the message names them and where they belong."""

    code = "models_missing"


class PipelineError(SonicError):
    """The Sonic pipeline failed while making frames (a model or runtime error, not the input);
    nothing was written."""

    code = "pipeline_failed"


class OutOfMemory(PipelineError):
    """The pipeline ran out of GPU (or CPU) memory; the hint says what needs less."""

    code = "out_of_memory"
    http_status = 503


class EncodingError(SonicError):
    """Writing the frames and the speech into an MP4 failed; nothing was written."""

    code = "encoding_failed"


class SigningError(SonicError):
    """An output could not be signed; by policy it is then not written at all."""

    code = "signing_failed"


class PublishError(SonicError):
    """A signed output could not be recorded in the registry or moved into place; nothing was
    written."""

    code = "publish_failed"


class Cancelled(SonicError):
    """The caller cancelled the job; nothing was written."""

    code = "cancelled"
    http_status = 409


@contextmanager
def raised_as(error: Callable[[Exception], SonicError]) -> Iterator[None]:
    """Any failure in the block that is not one of ours yet becomes `error(exc)`: a failure is
    named by where it happened (the pipeline, the encoder), not by whoever catches it later."""
    try:
        yield
    except SonicError:
        raise
    except Exception as exc:  # noqa: BLE001 - the point: every other failure gets a type
        raise error(exc) from exc
