"""Code run in separate processes by test_concurrency (spawned: importable, picklable)."""

from __future__ import annotations

from pathlib import Path

from sonic_ext import Settings
from sonic_ext.consent import ConsentGate, ConsentRegistry
from sonic_ext.identity import FaceBackends
from sonic_ext.policy import load_policy


def enrol_and_check(environment: dict[str, str], home: str, policy_file: str, subject_id: str,
                    portrait: str, evidence: str, barrier, results) -> None:
    """Open the shared registry, wait for the others, then add a consent for the subject with
    `portrait` and check `portrait` twice."""
    settings = Settings.from_environment(environment, home=home)
    registry = ConsentRegistry.open(settings, load_policy(Path(policy_file)),
                                    backends=FaceBackends(settings.models_dir))
    gate = ConsentGate(registry)  # loads dlib before the race starts
    barrier.wait()
    seqs = []
    try:
        consent = registry.add_consent("Barack Obama", [Path(portrait)], Path(evidence),
                                       ["education"], None, "worker", grantees=["any"],
                                       subject_id=subject_id)
        for _ in range(2):
            seqs.append(gate.check(Path(portrait), "education", "worker",
                                   [consent.id]).audit_seq)
        results.put(("ok", seqs))
    except Exception as exc:  # reported to the test, which fails with it
        results.put(("error", repr(exc)))
    finally:
        registry.database.dispose()


def enrol_or_revoke(environment: dict[str, str], home: str, policy_file: str, portrait: str,
                    evidence: str, revoke: str | None = None) -> str:
    """In another process: enrol Barack Obama with `portrait`, or revoke consent `revoke`;
    returns the consent's id."""
    settings = Settings.from_environment(environment, home=home)
    registry = ConsentRegistry.open(settings, load_policy(Path(policy_file)),
                                    backends=FaceBackends(settings.models_dir))
    try:
        if revoke:
            return registry.revoke_consent(revoke, "withdrawn", actor="other-machine").id
        return registry.add_consent("Barack Obama", [Path(portrait)], Path(evidence),
                                    ["education"], None, "other-machine", grantees=["any"]).id
    finally:
        registry.database.dispose()


def open_database(url: str, barrier, results) -> None:
    """Wait for the others, then open (and so migrate) the registry database at `url`."""
    from sonic_ext.consent.database import RegistryDatabase

    barrier.wait()
    try:
        RegistryDatabase.open(url).dispose()
        results.put("ok")
    except Exception as exc:  # reported to the test, which fails with it
        results.put(repr(exc))
