"""Enrolled face references in memory: one float32 matrix per face model.

Matching a face is one matrix-vector product over every reference of its model (embeddings are
unit length, so the products are cosine similarities). The cost is reading the matrix once, about
0.5 GB per face at a million 128-d references, so rows are stored contiguously and never copied
per query. References are only ever added, so a refresh appends the rows with higher ids than
those already loaded; the head row's `references_version` tells when to look.

Each row's consent-key signature is checked as it is loaded (~0.1 ms a row, once per process):
a row inserted or edited outside the registry never enters the matrix, and its subject is
listed in `rejected`, so the gate names the tampering instead of matching against it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import FaceReference
from .signing import ConsentVerifier, reference_fields

_INITIAL_CAPACITY = 1024


@dataclass(frozen=True)
class Match:
    subject_id: str
    similarity: float


@dataclass(frozen=True, eq=False)
class ReferenceMatrix:
    """A consistent snapshot: row i of `rows` belongs to `subject_ids[codes[i]]`."""

    rows: np.ndarray
    codes: np.ndarray
    subject_ids: tuple[str, ...]
    rejected: frozenset[str] = frozenset()  # subjects with a reference whose signature failed

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def best(self, embedding: np.ndarray) -> Match | None:
        """The most similar reference's subject, or None when nothing is enrolled."""
        if len(self) == 0:
            return None
        similarities = self.rows @ embedding
        row = int(np.argmax(similarities))
        return Match(self.subject_ids[self.codes[row]], float(similarities[row]))

    def best_other(self, embedding: np.ndarray, subject_id: str) -> Match | None:
        """The most similar reference of any subject but `subject_id`, or None."""
        if len(self) == 0:
            return None
        similarities = self.rows @ embedding
        if subject_id in self.subject_ids:
            similarities = np.where(self.codes == self.subject_ids.index(subject_id), -np.inf,
                                    similarities)
        row = int(np.argmax(similarities))
        if not np.isfinite(similarities[row]):
            return None
        return Match(self.subject_ids[self.codes[row]], float(similarities[row]))

    def best_of_subject(self, embedding: np.ndarray, subject_id: str) -> float | None:
        """Highest similarity to one subject's references, or None if it has none here."""
        if subject_id not in self.subject_ids:
            return None
        mask = self.codes == self.subject_ids.index(subject_id)
        if not mask.any():
            return None
        return float(np.max(self.rows[mask] @ embedding))


class ReferenceIndex:
    """The growing matrix of one face model; appends amortise like a list's."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.last_id = 0
        self.version = -1
        self._rows = np.empty((0, 0), dtype=np.float32)
        self._codes = np.empty(0, dtype=np.int32)
        self._count = 0
        self._subject_ids: list[str] = []
        self._code_of: dict[str, int] = {}
        self.rejected: set[str] = set()

    def extend(self, ids: np.ndarray, subject_ids: list[str], rows: np.ndarray) -> None:
        """Append references (ids ascending, above `last_id`); rows must be unit length."""
        if len(ids) == 0:
            return
        rows = np.asarray(rows, dtype=np.float32)
        if self._count and rows.shape[1] != self._rows.shape[1]:
            raise ValueError(f"{self.model_id}: embedding size {rows.shape[1]} differs from "
                             f"the enrolled {self._rows.shape[1]}")
        self._reserve(self._count + len(rows), rows.shape[1])
        codes = np.fromiter((self._code(s) for s in subject_ids), dtype=np.int32,
                            count=len(subject_ids))
        end = self._count + len(rows)
        self._rows[self._count:end] = rows
        self._codes[self._count:end] = codes
        self._count = end
        self.last_id = int(ids[-1])

    def snapshot(self) -> ReferenceMatrix:
        # Views: later appends write past `_count` or into a new buffer, never into these rows.
        return ReferenceMatrix(self._rows[:self._count], self._codes[:self._count],
                               tuple(self._subject_ids), frozenset(self.rejected))

    def _code(self, subject_id: str) -> int:
        if subject_id not in self._code_of:
            self._code_of[subject_id] = len(self._subject_ids)
            self._subject_ids.append(subject_id)
        return self._code_of[subject_id]

    def _reserve(self, needed: int, dim: int) -> None:
        if needed <= self._rows.shape[0]:
            return
        capacity = max(_INITIAL_CAPACITY, needed, 2 * self._rows.shape[0])
        rows = np.empty((capacity, dim), dtype=np.float32)
        codes = np.empty(capacity, dtype=np.int32)
        if self._count:
            rows[:self._count] = self._rows[:self._count]
            codes[:self._count] = self._codes[:self._count]
        self._rows, self._codes = rows, codes


class ReferenceCache:
    """Per-model indexes of one registry, shared by the threads of a process."""

    def __init__(self, verifier: ConsentVerifier) -> None:
        self.verifier = verifier
        self._indexes: dict[str, ReferenceIndex] = {}
        self._lock = threading.Lock()

    def matrix(self, session: Session, model_id: str, version: int) -> ReferenceMatrix:
        """The references of `model_id` as of `version`, loading only what is new."""
        with self._lock:
            index = self._indexes.setdefault(model_id, ReferenceIndex(model_id))
            if index.version != version:
                _load_new_rows(session, index, self.verifier)
                index.version = version
            return index.snapshot()


def _load_new_rows(session: Session, index: ReferenceIndex, verifier: ConsentVerifier) -> None:
    rows = session.scalars(select(FaceReference)
                           .where(FaceReference.model_id == index.model_id,
                                  FaceReference.id > index.last_id)
                           .order_by(FaceReference.id)).all()
    if not rows:
        return
    valid = []
    for row in rows:
        if verifier.valid(row.signature, "reference", reference_fields(row)):
            valid.append(row)
        else:
            index.rejected.add(row.subject_id)
    if valid:
        ids = np.fromiter((r.id for r in valid), dtype=np.int64, count=len(valid))
        matrix = np.frombuffer(b"".join(r.embedding for r in valid), dtype="<f4")
        index.extend(ids, [r.subject_id for r in valid], matrix.reshape(len(valid), -1))
    index.last_id = int(rows[-1].id)
