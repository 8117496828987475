"""Which signers we trust when reading manifests, as a c2pa-python 0.38 Context.

The same settings are used to verify our own output right after signing and, later, to audit a
file, so "it read back Trusted when we wrote it" means the same thing an auditor will check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import c2pa

from .keys import DevKeyFiles

EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4"
DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
C2PA_CLAIM_SIGNING = "1.3.6.1.4.1.62558.2.1"
# c2pa-rs always accepts emailProtection (and timeStamping/OCSPSigning for their roles); these are
# added on top so leaves issued for document signing or C2PA claim signing validate too.
ALLOWED_EKUS = (EMAIL_PROTECTION, DOCUMENT_SIGNING, C2PA_CLAIM_SIGNING)


@dataclass(frozen=True)
class TrustPolicy:
    """Trust anchors (PEM roots) and allowed leaf EKUs; no anchors means "Valid" is the best."""

    anchors_pem: bytes | None = field(default=None, repr=False)
    allowed_ekus: tuple[str, ...] = ALLOWED_EKUS

    @classmethod
    def for_keys_dir(cls, keys_dir: Path) -> TrustPolicy:
        """This installation's own trust: its development root, if `keys init` made one."""
        root = DevKeyFiles.under(keys_dir).root_cert
        return cls(root.read_bytes() if root.is_file() else None)

    @property
    def best_state(self) -> str:
        """The validation state a good file reaches under this policy."""
        return "Trusted" if self.anchors_pem else "Valid"

    def settings(self) -> dict[str, object]:
        trust: dict[str, object] = {"trust_config": "\n".join(self.allowed_ekus) + "\n"}
        if self.anchors_pem:
            trust["user_anchors"] = self.anchors_pem.decode()
        return {
            "trust": trust,
            "verify": {
                "verify_after_sign": True,
                "verify_after_reading": True,
                "verify_trust": True,
                # Offline and deterministic: never fetch a manifest from a URL named in the file.
                "remote_manifest_fetch": False,
            },
            # Thumbnails would embed ~130 KB of the portrait into every output.
            "builder": {"thumbnail": {"enabled": False}},
        }

    def context(self, *, decode_identities: bool = True) -> c2pa.Context:
        """A reading (or explicit-signer) context; `decode_identities=False` keeps identity
        assertions as stored, their COSE signature bytes included."""
        settings = self.settings()
        if not decode_identities:
            settings["core"] = {"decode_identity_assertions": False}
        return c2pa.Context.from_json(json.dumps(settings))

    def signing_context(self, signer: dict[str, object], identity: dict[str, object]
                        ) -> c2pa.Context:
        """A context that signs by itself: c2pa-rs's dual signer, `signer` for the claim and
        `identity` (a `cawg_x509_signer` section) for the CAWG identity assertion."""
        settings = c2pa.Settings.from_json(json.dumps(
            {**self.settings(), "signer": signer, "cawg_x509_signer": identity}))
        try:
            return _SettingsSignerContext(settings=settings)
        finally:
            settings.close()

    def with_anchors(self, *anchors_pem: bytes | None) -> TrustPolicy:
        """This policy plus more roots (e.g. the dev root next to production roots)."""
        pems = [pem.strip() for pem in (self.anchors_pem, *anchors_pem) if pem]
        return TrustPolicy(b"\n".join(pems) + b"\n" if pems else None, self.allowed_ekus)


class _SettingsSignerContext(c2pa.Context):
    """c2pa-python 0.38 counts only a Signer object handed to a Context as "has a signer";
    c2pa-rs also builds one from the settings' `signer` section, the only way to its CAWG dual
    signer. This says so, so that `Builder.sign` without a signer uses it."""

    @property
    def has_signer(self) -> bool:
        return True
