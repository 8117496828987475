"""Signing credentials: a development PKI made by `keys init`, production files, or a KMS/HSM hook.

c2pa-rs 0.91 enforces a certificate profile (research/provenance.md §1.3): the leaf needs
digitalSignature, an AuthorityKeyIdentifier and an EKU validators accept. Ours carries
emailProtection (accepted by default) and documentSigning (accepted when the validator's
trust_config lists it, which ours does). The signer gets leaf + intermediate; the root goes only to
validators as a trust anchor.

Private keys never leave this module in a printable form: `SigningCredentials` hides them from
repr, `describe()` reports only the certificate, and key files are created 0600.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import InputError, SigningError

DEV_LABEL = "development credentials"
PRODUCTION_LABEL = "production credentials"
DEV_ROOT_FILE = "dev-root-ca.pem"
DEV_CHAIN_FILE = "dev-signing-chain.pem"
DEV_KEY_FILE = "dev-signing-key.pem"
DOCUMENT_SIGNING_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# Without a timestamp authority a signature is checked against "now", so the dev leaf must
# outlive the outputs it signs (research §1.9).
_LEAF_DAYS = 5 * 365
_INTERMEDIATE_DAYS = 10 * 365
_ROOT_DAYS = 20 * 365

SignCallback = Callable[[bytes], bytes]


@dataclass(frozen=True)
class DevKeyFiles:
    """Where `keys init` put the development PKI."""

    root_cert: Path  # trust anchor: hand this to auditors, never the key
    chain: Path  # leaf then intermediate, PEM
    key: Path  # leaf private key, PKCS#8 PEM, mode 0600

    @classmethod
    def under(cls, keys_dir: Path) -> DevKeyFiles:
        return cls(keys_dir / DEV_ROOT_FILE, keys_dir / DEV_CHAIN_FILE, keys_dir / DEV_KEY_FILE)

    def exist(self) -> bool:
        return self.root_cert.is_file() and self.chain.is_file() and self.key.is_file()


@dataclass(frozen=True)
class SigningCredentials:
    """Everything c2pa needs to sign, plus the anchors that let us verify our own output.

    Exactly one of `private_key_pem` and `sign_callback` is set.
    """

    chain_pem: bytes = field(repr=False)  # leaf first, then intermediates; no root
    alg: c2pa.C2paSigningAlg
    development: bool
    trust_anchors_pem: bytes | None = field(default=None, repr=False)  # roots to verify against
    tsa_url: str | None = None
    private_key_pem: bytes | None = field(default=None, repr=False)
    sign_callback: SignCallback | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return DEV_LABEL if self.development else PRODUCTION_LABEL

    def make_signer(self) -> c2pa.Signer:
        """A fresh c2pa Signer (a Builder consumes one per signature)."""
        try:
            if self.sign_callback is not None:
                return c2pa.Signer.from_callback(self.sign_callback, self.alg,
                                                 self.chain_pem.decode(), self.tsa_url)
            if self.private_key_pem is None:
                raise SigningError("signing credentials have neither a key nor a sign callback")
            info = c2pa.C2paSignerInfo(self.alg, self.chain_pem, self.private_key_pem,
                                       self.tsa_url)
            return c2pa.Signer.from_info(info)
        except c2pa.C2paError as exc:
            raise SigningError(f"cannot create a signer from the {self.label}: {exc}",
                               hint="check the certificate chain, key and TSA URL") from exc

    def settings_signer(self) -> dict[str, object] | None:
        """This key as c2pa-rs's `signer` settings section; None for a callback signer."""
        if self.private_key_pem is None:
            return None
        local: dict[str, object] = {"alg": self.alg.name.lower(),
                                    "sign_cert": self.chain_pem.decode(),
                                    "private_key": self.private_key_pem.decode()}
        if self.tsa_url:
            local["tsa_url"] = self.tsa_url
        return {"local": local}

    def describe(self) -> dict[str, object]:
        """What manifests, logs and reports may show about the signer (never key material)."""
        leaf = x509.load_pem_x509_certificates(self.chain_pem)[0]
        return {
            "credentials": self.label,
            "subject": leaf.subject.rfc4514_string(),
            "issuer": leaf.issuer.rfc4514_string(),
            "serial_number": format(leaf.serial_number, "x"),
            "certificate_sha256": leaf.fingerprint(hashes.SHA256()).hex(),
            "not_after": leaf.not_valid_after_utc.isoformat(),
            "algorithm": self.alg.name.lower(),
            "signer": "callback" if self.sign_callback is not None else "key file",
            "timestamp_authority": self.tsa_url,
        }


def init_dev_keys(keys_dir: Path, *, replace: bool = False) -> DevKeyFiles:
    """`keys init`: create a development root CA, intermediate CA and ES256 signing leaf.

    Keeps an existing set unless `replace`; outputs signed with a replaced set no longer chain to
    the new root. Only the leaf key is written; the CA keys are used once and dropped, so the dev
    PKI has a single secret to protect.
    """
    files = DevKeyFiles.under(keys_dir)
    if files.exist() and not replace:
        return files
    keys_dir.mkdir(parents=True, exist_ok=True)
    keys_dir.chmod(0o700)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name("Sonic development root CA (not for production)")
    root = _ca_certificate(root_name, root_key, root_name, root_key, now, _ROOT_DAYS, path_len=1)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid_name = _name("Sonic development intermediate CA (not for production)")
    mid = _ca_certificate(mid_name, mid_key, root_name, root_key, now, _INTERMEDIATE_DAYS,
                          path_len=0)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _leaf_certificate(_name("Sonic development signer"), leaf_key, mid_name, mid_key, now)

    _write_private(files.key, leaf_key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    files.chain.write_bytes(_pem(leaf) + _pem(mid))
    files.root_cert.write_bytes(_pem(root))
    return files


def load_dev_credentials(keys_dir: Path, *, tsa_url: str | None = None) -> SigningCredentials:
    """The development set made by `init_dev_keys`, labelled as development credentials."""
    files = DevKeyFiles.under(keys_dir)
    if not files.exist():
        raise SigningError(f"no development signing keys in {keys_dir}",
                           hint="run `sonic-ext keys init` or configure production credentials")
    return load_credentials(files.chain, files.key, trust_anchors=files.root_cert,
                            tsa_url=tsa_url, development=True)


def load_credentials(chain: Path, key: Path, *, trust_anchors: Path | None = None,
                     tsa_url: str | None = None, development: bool = False,
                     ) -> SigningCredentials:
    """Production signing from files: a PEM chain (leaf first, no root) and its private key."""
    chain_pem = _read(chain, "certificate chain")
    key_pem = _read(key, "signing key")
    leaf = _leaf_of(chain_pem, chain)
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{key} is not an unencrypted PEM private key",
                           hint="export the key as PKCS#8 PEM without a passphrase, or use a "
                                "callback signer for keys that must stay in a KMS/HSM") from exc
    if _public_der(private_key.public_key()) != _public_der(leaf.public_key()):
        raise SigningError(f"the key in {key} does not match the first certificate in {chain}",
                           hint="the chain must start with the signing (leaf) certificate")
    return SigningCredentials(
        chain_pem=chain_pem,
        alg=_alg_for(private_key),
        development=development,
        trust_anchors_pem=_read(trust_anchors, "trust anchors") if trust_anchors else None,
        tsa_url=_checked_tsa(tsa_url),
        private_key_pem=key_pem,
    )


def callback_credentials(chain_pem: bytes, sign: SignCallback, alg: c2pa.C2paSigningAlg, *,
                         trust_anchors_pem: bytes | None = None, tsa_url: str | None = None,
                         ) -> SigningCredentials:
    """Signing through a KMS/HSM hook: `sign(data)` returns the signature over `data`.

    For ES256/384/512 return the DER-encoded ECDSA signature (what `cryptography` and most KMS
    APIs produce); for Ed25519 the raw 64 bytes.
    """
    _leaf_of(chain_pem, Path("<callback chain>"))
    return SigningCredentials(chain_pem=chain_pem, alg=alg, development=False,
                              trust_anchors_pem=trust_anchors_pem, tsa_url=_checked_tsa(tsa_url),
                              sign_callback=sign)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sd-webui-sonic"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca_certificate(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                    issuer_key: ec.EllipticCurvePrivateKey, now: dt.datetime, days: int,
                    path_len: int) -> x509.Certificate:
    builder = _base(subject, key, issuer, issuer_key, now, days)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_len),
                                    critical=True)
    builder = builder.add_extension(_key_usage(cert_sign=True), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf_certificate(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
                      issuer_key: ec.EllipticCurvePrivateKey, now: dt.datetime,
                      ) -> x509.Certificate:
    builder = _base(subject, key, issuer, issuer_key, now, _LEAF_DAYS)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                    critical=True)
    builder = builder.add_extension(_key_usage(cert_sign=False), critical=True)
    builder = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING_OID]),
        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _base(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
          issuer_key: ec.EllipticCurvePrivateKey, now: dt.datetime, days: int,
          ) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False))


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False,
                         decipher_only=False)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    """Create the file 0600 from the start (no window where it is world-readable)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningError(f"cannot read the {what} at {path}: {exc.strerror}") from exc


def _leaf_of(chain_pem: bytes, source: Path) -> x509.Certificate:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as exc:
        raise SigningError(f"{source} holds no PEM certificates",
                           hint="give the signing certificate followed by its intermediates"
                           ) from exc
    return certs[0]


def _public_der(public_key: object) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _alg_for(private_key: object) -> c2pa.C2paSigningAlg:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        by_curve = {"secp256r1": c2pa.C2paSigningAlg.ES256,
                    "secp384r1": c2pa.C2paSigningAlg.ES384,
                    "secp521r1": c2pa.C2paSigningAlg.ES512}
        if private_key.curve.name in by_curve:
            return by_curve[private_key.curve.name]
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return c2pa.C2paSigningAlg.ED25519
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size >= 2048:
        return c2pa.C2paSigningAlg.PS256
    raise SigningError("unsupported signing key type",
                       hint="C2PA accepts EC P-256/384/521, Ed25519 or RSA >= 2048 bits")


def _checked_tsa(tsa_url: str | None) -> str | None:
    if tsa_url and not tsa_url.startswith(("http://", "https://")):
        raise InputError("tsa_url", f"{tsa_url!r} is not an http(s) URL")
    return tsa_url or None
