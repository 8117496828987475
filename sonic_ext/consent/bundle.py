"""The auditor bundle: what a third party needs to verify our files offline, on their own machine.

    content-anchors.pem   roots the C2PA signer of our outputs chains to
    consent-anchors.pem   roots the consent credentials' issuer chains to
    status-list.jwt       the signed revocation status list, as of the bundle's making
    README.md             what can be checked with it, and what still needs the operator

`sonic-ext verify --bundle DIR FILE` uses all three instead of a registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from ..errors import InputError
from .credentials import load_anchors

if TYPE_CHECKING:
    from ..service import SonicService

CONTENT_ANCHORS = "content-anchors.pem"
CONSENT_ANCHORS = "consent-anchors.pem"
STATUS_LIST = "status-list.jwt"
README = "README.md"

_README = """# Verifying outputs of {issuer}

This folder lets you check our talking-head videos without our database or servers.

    pip install sd-webui-sonic   # any machine; no registry, keys or models are needed
    sonic-ext verify --bundle THIS_FOLDER video.mp4 [--report report.html]

What you can check offline, from the file alone:
- the C2PA manifest: intact, and signed by a signer that chains to `{content}`;
- the consent the generation relied on: its signed credential, issued by the registry
  (chaining to `{consent}`), what it covered (purposes, validity) and whether the generation's
  purpose and date fell inside it;
- whether the consent was revoked, per `{status}` (made {made}; ask for a newer one, or fetch
  `GET /sonic/v1/consent-status` from the operator, to see later revocations).

What still needs the operator:
- a copy whose manifest was stripped (every upload platform strips it): our invisible
  watermark is keyed, so send the file to the operator's `POST /sonic/v1/verify`;
- the consent evidence itself (the signed release): the credential carries only its sha256,
  which the operator's copy must match;
- the audit log (`sonic-ext consent audit-verify`), though each manifest carries a signed
  checkpoint of it that the operator cannot take back.
"""


@dataclass(frozen=True)
class AuditorBundle:
    content_anchors: Path
    consent_anchors: list[x509.Certificate]
    status_list: str

    @classmethod
    def read(cls, folder: Path) -> AuditorBundle:
        missing = [name for name in (CONTENT_ANCHORS, CONSENT_ANCHORS, STATUS_LIST)
                   if not (folder / name).is_file()]
        if missing:
            raise InputError("bundle", f"{folder} is not an auditor bundle: "
                                       f"{', '.join(missing)} missing",
                             hint="`sonic-ext auditor-bundle --out DIR` makes one")
        try:
            consent = load_anchors((folder / CONSENT_ANCHORS).read_bytes())
        except ValueError as exc:
            raise InputError("bundle", f"{folder / CONSENT_ANCHORS}: {exc}") from None
        return cls(folder / CONTENT_ANCHORS, consent,
                   (folder / STATUS_LIST).read_text(encoding="ascii").strip())


def write_bundle(service: SonicService, folder: Path) -> dict[str, Any]:
    """Write the bundle for this installation into `folder` (made if needed)."""
    issuer = service.registry.issuer
    status = service.consent_status_list()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONTENT_ANCHORS).write_bytes(service.trust_policy().anchors_pem or b"")
    (folder / CONSENT_ANCHORS).write_bytes(issuer.anchors_pem())
    (folder / STATUS_LIST).write_text(status + "\n", encoding="ascii")
    made = service.registry.clock().strftime("%Y-%m-%d %H:%M UTC")
    (folder / README).write_text(_README.format(
        issuer=issuer.name, content=CONTENT_ANCHORS, consent=CONSENT_ANCHORS,
        status=STATUS_LIST, made=made), encoding="utf-8")
    return {"folder": str(folder), "issuer": issuer.name, "issuer_id": issuer.id,
            "development": issuer.development, "status_list_made": made,
            "files": [CONTENT_ANCHORS, CONSENT_ANCHORS, STATUS_LIST, README]}
