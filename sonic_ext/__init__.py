"""sd-webui-sonic: consent-gated, signed talking-head videos with the Sonic model.

The public surface is small: build `Settings`, hand them to `SonicService`, call `generate` or
`verify` with typed requests, and catch errors by type.
"""

from ._version import __version__
from .errors import (AdminRequired, Cancelled, Conflict, ConsentRefused, InputError,
                     ModelsMissing, NotAvailable, NotFound, SigningError, SonicError)
from .progress import CancelToken, ProgressEvent
from .contracts import GenerateRequest, GenerateResult, GenerationParams, VerifyReport
from .service import SonicService
from .settings import Settings

__all__ = [
    "__version__", "AdminRequired", "Cancelled", "CancelToken", "Conflict", "ConsentRefused",
    "GenerateRequest", "GenerateResult", "GenerationParams", "InputError", "ModelsMissing",
    "NotAvailable", "NotFound", "ProgressEvent", "SigningError", "Settings", "SonicError",
    "SonicService", "VerifyReport",
]
