"""Sign one MP4 with c2pa-python and accept it only if it reads back at the expected state."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import c2pa

from ..errors import SigningError
from .identity_assertion import HARD_BINDING, UNTRUSTED, IdentitySigner
from .keys import SigningCredentials
from .manifest import CONSENT_LABEL, CREDENTIAL_LABEL, GenerationFacts, build_manifest
from .reading import ManifestReading, read_manifest
from .trust import TrustPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedManifest:
    """The manifest as it reads back from the signed file."""

    reading: ManifestReading
    signer: dict[str, object]  # SigningCredentials.describe(): certificate facts, no key


def sign_mp4(source: Path, dest: Path, facts: GenerationFacts,
             credentials: SigningCredentials, identity: IdentitySigner | None = None,
             ) -> SignedManifest:
    """Write `source` + a signed manifest to `dest`, then require it to validate.

    With trust anchors in the credentials (always for development credentials) the read-back
    must be "Trusted"; without, "Valid". With `identity` (the consent registry's signer) and a
    key-file signer the manifest also carries a CAWG identity assertion, which must read back
    intact. Anything else raises SigningError.
    """
    trust = TrustPolicy(credentials.trust_anchors_pem)
    referenced = _identity_references(facts)
    claim_signer = credentials.settings_signer()
    identity_section = identity.settings(referenced) if identity and claim_signer else None
    if identity is not None and identity_section is None:
        log.warning("no identity assertion in %s: c2pa-rs makes one only with a key-file "
                    "signer, not a callback", dest.name)
    try:
        _sign(source, dest, facts, credentials, trust,
              (claim_signer, identity_section) if identity_section else None)
        reading = _read_back(dest, trust, referenced if identity_section else None)
    except BaseException:
        dest.unlink(missing_ok=True)  # never leave a half-signed or unverified file behind
        raise
    log.info("signed %s with %s (%s)", dest.name, credentials.label,
             credentials.describe()["subject"])
    return SignedManifest(reading, credentials.describe())


def _identity_references(facts: GenerationFacts) -> list[str]:
    """What the registry's identity assertion signs: the decision, the credentials, the file."""
    return [CONSENT_LABEL, *([CREDENTIAL_LABEL] if facts.consent_credentials else []),
            HARD_BINDING]


def _sign(source: Path, dest: Path, facts: GenerationFacts, credentials: SigningCredentials,
          trust: TrustPolicy, dual: tuple[dict[str, object], dict[str, object]] | None) -> None:
    """`dual`: the claim's and the identity assertion's settings signers, for c2pa-rs's dual
    signer; None signs the claim with `credentials.make_signer()` alone."""
    definition = build_manifest(facts, credentials_label=credentials.label)
    try:
        context = trust.signing_context(*dual) if dual else trust.context()
        with context, c2pa.Builder(definition, context=context) as builder:
            for item in (facts.portrait, facts.audio):
                with item.path.open("rb") as stream:
                    builder.add_ingredient(item.ingredient(), item.mime, stream)
            with source.open("rb") as src, dest.open("w+b") as dst:
                if context.has_signer:
                    builder.sign("video/mp4", src, dst)
                else:
                    with credentials.make_signer() as signer:
                        builder.sign(signer, "video/mp4", src, dst)
    except c2pa.C2paError as exc:
        raise _signing_error(exc, credentials) from exc
    except OSError as exc:
        raise SigningError(f"cannot sign {source.name}: {exc}") from exc


def _read_back(dest: Path, trust: TrustPolicy, referenced: list[str] | None) -> ManifestReading:
    reading = read_manifest(dest, trust)
    if reading is None:
        raise SigningError("the signed file carries no readable C2PA manifest")
    if referenced is not None:
        _require_identity(reading, referenced)
    if reading.validation_state != trust.best_state:
        codes = ", ".join(f["code"] for f in reading.failures) or "no failure codes"
        raise SigningError(f"the signed file reads back {reading.validation_state}, not "
                           f"{trust.best_state} ({codes})",
                           hint="check that the chain's root is among the trust anchors")
    return reading


def _require_identity(reading: ManifestReading, referenced: list[str]) -> None:
    found = reading.identities
    problems = [f["code"] for r in found for f in r.failures if f["code"] != UNTRUSTED]
    if len(found) != 1 or problems or not set(referenced) <= set(found[0].referenced):
        raise SigningError("the signed file's identity assertion does not read back intact ("
                           f"{len(found)} found; {', '.join(problems) or 'wrong references'})")


def _signing_error(exc: c2pa.C2paError, credentials: SigningCredentials) -> SigningError:
    text = str(exc)
    if credentials.tsa_url and ("error sending request" in text or "tsa" in text.lower()):
        return SigningError(f"the timestamp authority at {credentials.tsa_url} could not be "
                            f"reached or refused the request ({text})",
                            hint="fix the TSA URL or network, or configure no TSA; unsigned "
                                 "output is never written")
    return SigningError(f"C2PA signing with the {credentials.label} failed: {text}",
                        hint="check that the key matches the first certificate of the chain "
                             "and that the chain meets the C2PA certificate profile")
