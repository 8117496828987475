"""Concurrent enrolments and gate checks, in threads and in processes, keep the chain intact."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

from sonic_ext.consent import ConsentGate

from .conftest import FACES, enrol
from .workers import enrol_and_check

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
    args = (str(settings.home), str(policy_file), obama.subject_id, str(FACES / "obama2.jpg"),
            str(evidence), barrier, results)
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
