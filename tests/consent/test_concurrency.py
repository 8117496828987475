"""Concurrent enrolments and gate checks, in threads and in processes, keep the chain intact."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from sonic_ext.consent import ConsentGate, GateRefused

from ..conftest import database_env
from .conftest import FACES, enrol
from .workers import enrol_and_check, enrol_or_revoke

THREADS = 20
PROCESSES = 4


def test_twenty_concurrent_enrolments_and_checks_in_threads(registry, evidence):
    obama = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    gate = ConsentGate(registry)
    start = threading.Barrier(THREADS)

    def work(i: int) -> str:
        start.wait()
        if i % 2:
            return registry.add_consent("Barack Obama", [FACES / "obama2.jpg"], evidence,
                                        [f"campaign-{i}"], None, f"operator-{i}",
                                        grantees=["any"], subject_id=obama.subject_id).id
        return str(gate.check(FACES / "obama2.jpg", "education", f"user-{i}",
                              [obama.id]).audit_seq)

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    assert len(set(results)) == THREADS
    report = registry.verify_chain()
    assert report.ok, report.problem
    assert report.events_checked == 1 + THREADS
    assert len(registry.list_consents()) == 1 + THREADS // 2


def test_concurrent_processes_share_one_intact_chain(registry, evidence, settings, policy_file):
    obama = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    args = (_environment(settings), str(settings.home), str(policy_file), obama.subject_id,
            str(FACES / "obama2.jpg"), str(evidence), barrier, results)
    workers = [context.Process(target=enrol_and_check, args=args) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert all(status == "ok" for status, _ in outcomes), outcomes
    report = registry.verify_chain()
    assert report.ok, report.problem
    assert report.events_checked == 1 + PROCESSES * 3
    seqs = [seq for _, worker_seqs in outcomes for seq in worker_seqs]
    assert len(set(seqs)) == len(seqs)


def test_an_enrolment_and_a_revocation_in_another_process_reach_this_ones_gate(
        registry, evidence, settings, policy_file, clock):
    """The reference matrix this process holds follows what another process (another machine,
    on PostgreSQL) writes: a new face opens the gate, a revocation closes it again."""
    biden = enrol(registry, "Joe Biden", "biden.jpg", evidence)
    gate = ConsentGate(registry)
    portrait = FACES / "obama2.jpg"
    with pytest.raises(GateRefused):  # and the matrix, with Biden alone, is now loaded here
        gate.check(portrait, "education", "user", [biden.id])
    args = (_environment(settings), str(settings.home), str(policy_file),
            str(FACES / "obama.jpg"), str(evidence))
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as other:
        consent_id = other.submit(enrol_or_revoke, *args).result(timeout=120)
        clock.now = datetime.now(timezone.utc)  # this process's clock: fake, the other's: real
        assert gate.check(portrait, "education", "user", [consent_id]).passed
        other.submit(enrol_or_revoke, *args, revoke=consent_id).result(timeout=120)
        clock.now = datetime.now(timezone.utc)
    with pytest.raises(GateRefused, match="revoked"):
        gate.check(portrait, "education", "user", [consent_id])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_restarted_database_server_is_met_again_without_restarting_us(
        registry, evidence, postgres):
    """PostgreSQL restarted (an upgrade, a failover) under a running process: its pooled
    connections are dead, and the next check, enrolment and revocation work all the same."""
    obama = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    gate = ConsentGate(registry)
    assert gate.check(FACES / "obama2.jpg", "education", "user", [obama.id]).passed
    postgres.pg_ctl("restart")
    assert gate.check(FACES / "obama2.jpg", "education", "user", [obama.id]).passed
    biden = enrol(registry, "Joe Biden", "biden.jpg", evidence)
    registry.revoke_consent(biden.id, "withdrawn", actor="operator")
    report = registry.verify_chain()
    assert report.ok, report.problem
    assert report.events_checked == 5


def _environment(settings) -> dict[str, str]:
    """What a process started on another machine of this installation has set."""
    return {"HOME": str(settings.home), **database_env(settings.db_url)}
