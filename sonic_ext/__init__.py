"""sd-webui-sonic: consent-gated, signed talking-head videos with the Sonic model.

The public surface is small: build `Settings`, hand them to `SonicService`, call `generate` or
`verify` with typed requests, and catch errors by type.
"""

from ._version import __version__
from .contracts import GenerateRequest, GenerateResult, GenerationParams, VerifyReport
from .errors import (
    AdminRequired,
    Cancelled,
    Conflict,
    ConsentRefused,
    EncodingError,
    InputError,
    ModelsMissing,
    NotAvailable,
    NotFound,
    OutOfMemory,
    PipelineError,
    PublishError,
    RegistryBusy,
    SigningError,
    SonicError,
)
from .progress import CancelToken, ProgressEvent
from .service import SonicService
from .settings import Settings

__all__ = [
    "__version__", "AdminRequired", "Cancelled", "CancelToken", "Conflict", "ConsentRefused",
    "EncodingError", "GenerateRequest", "GenerateResult", "GenerationParams", "InputError",
    "ModelsMissing", "NotAvailable", "NotFound", "OutOfMemory", "PipelineError",
    "ProgressEvent", "PublishError", "RegistryBusy", "SigningError", "Settings", "SonicError",
    "SonicService",
    "VerifyReport",
]
