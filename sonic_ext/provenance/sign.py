"""Sign one MP4 with c2pa-python and accept it only if it reads back at the expected state."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import c2pa

from ..errors import SigningError
from .keys import SigningCredentials
from .manifest import GenerationFacts, build_manifest
from .reading import ManifestReading, read_manifest
from .trust import TrustPolicy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedManifest:
    """The manifest as it reads back from the signed file."""

    reading: ManifestReading
    signer: dict[str, object]  # SigningCredentials.describe(): certificate facts, no key


def sign_mp4(source: Path, dest: Path, facts: GenerationFacts,
             credentials: SigningCredentials) -> SignedManifest:
    """Write `source` + a signed manifest to `dest`, then require it to validate.

    With trust anchors in the credentials (always for development credentials) the read-back
    must be "Trusted"; without, "Valid". Anything else raises SigningError.
    """
    trust = TrustPolicy(credentials.trust_anchors_pem)
    try:
        _sign(source, dest, facts, credentials, trust)
        reading = _read_back(dest, trust)
    except BaseException:
        dest.unlink(missing_ok=True)  # never leave a half-signed or unverified file behind
        raise
    log.info("signed %s with %s (%s)", dest.name, credentials.label,
             credentials.describe()["subject"])
    return SignedManifest(reading, credentials.describe())


def _sign(source: Path, dest: Path, facts: GenerationFacts, credentials: SigningCredentials,
          trust: TrustPolicy) -> None:
    definition = build_manifest(facts, credentials_label=credentials.label)
    try:
        with trust.context() as context, c2pa.Builder(definition, context=context) as builder:
            for item in (facts.portrait, facts.audio):
                with item.path.open("rb") as stream:
                    builder.add_ingredient(item.ingredient(), item.mime, stream)
            with credentials.make_signer() as signer, source.open("rb") as src, \
                    dest.open("w+b") as dst:
                builder.sign(signer, "video/mp4", src, dst)
    except c2pa.C2paError as exc:
        raise _signing_error(exc, credentials) from exc
    except OSError as exc:
        raise SigningError(f"cannot sign {source.name}: {exc}") from exc


def _read_back(dest: Path, trust: TrustPolicy) -> ManifestReading:
    reading = read_manifest(dest, trust)
    if reading is None:
        raise SigningError("the signed file carries no readable C2PA manifest")
    if reading.validation_state != trust.best_state:
        codes = ", ".join(f["code"] for f in reading.failures) or "no failure codes"
        raise SigningError(f"the signed file reads back {reading.validation_state}, not "
                           f"{trust.best_state} ({codes})",
                           hint="check that the chain's root is among the trust anchors")
    return reading


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
