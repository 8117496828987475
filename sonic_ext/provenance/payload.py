"""The bits a watermark carries: a 48-bit ID, a CRC-16, an error-correcting code, a fixed scramble.

Why each layer exists:
- the CRC turns "decoders always return bits" into a presence test: bits read from unmarked video
  pass it with probability 2**-16;
- a rate-1/2 convolutional code (K=7, generators 171/133 octal), decoded with soft-decision
  Viterbi, recovers the exact ID when a re-encode + downscale leaves 10-15 % of raw bits wrong;
- a fixed interleave spreads neighbouring code bits over the frame, so one damaged region (dark,
  clipped, blurred) does not wipe out a run of them;
- a fixed whitening XOR keeps flat or structured unmarked content (which reads as runs of equal
  bits) from looking like a codeword.
"""

from __future__ import annotations

import binascii
import hashlib
import secrets
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

ID_BITS = 48
CRC_BITS = 16
DATA_BITS = ID_BITS + CRC_BITS
ID_HEX_CHARS = ID_BITS // 4

_CONSTRAINT = 7
_GENERATORS = (0o171, 0o133)
_STATES = 1 << (_CONSTRAINT - 1)
CODED_BITS = 2 * (DATA_BITS + _CONSTRAINT - 1)
# One pad bit makes the embedded length odd, so the library's cyclic bit-to-block layout puts
# each bit in every column of the block grid instead of a fixed subset of columns.
EMBEDDED_BITS = CODED_BITS + 1
_SCRAMBLE_LABEL = b"sonic-ext watermark payload v1"


@dataclass(frozen=True)
class DecodedPayload:
    """What the error-correcting decoder made of a set of soft bits."""

    watermark_id: str
    crc_ok: bool
    codeword: np.ndarray  # the embedded-order bits (0/1) that this ID would produce

    def agreement(self, soft: np.ndarray) -> float:
        """Fraction of soft bits whose sign matches the codeword: 1.0 clean, ~0.5 chance."""
        return float(np.mean((np.asarray(soft) > 0) == (self.codeword == 1)))


def new_watermark_id() -> str:
    """A random 48-bit ID as 12 lowercase hex characters."""
    return secrets.token_hex(ID_BITS // 8)


def encode_coded(watermark_id: str) -> np.ndarray:
    """The CODED_BITS bits (uint8 0/1): ID + CRC-16 under the convolutional code."""
    data = _id_bytes(watermark_id)
    crc = binascii.crc_hqx(data, 0xFFFF).to_bytes(2, "big")
    return _conv_encode(np.unpackbits(np.frombuffer(data + crc, dtype=np.uint8)))


def decode_coded(soft: np.ndarray) -> tuple[str, bool]:
    """(ID, CRC passed) from CODED_BITS soft bits (+ means 1, magnitude = reliability)."""
    data = np.packbits(_viterbi_decode(np.asarray(soft, dtype=np.float64))).tobytes()
    id_bytes, crc = data[: ID_BITS // 8], data[ID_BITS // 8:]
    return id_bytes.hex(), binascii.crc_hqx(id_bytes, 0xFFFF).to_bytes(2, "big") == crc


def encode_payload(watermark_id: str) -> np.ndarray:
    """The EMBEDDED_BITS bits (uint8 0/1) that carry `watermark_id` in every frame (v1 layout:
    one pad bit, fixed whitening and interleave)."""
    coded = np.append(encode_coded(watermark_id), np.uint8(0))
    return (coded ^ _WHITENING)[_INTERLEAVE]


def decode_payload(soft: np.ndarray) -> DecodedPayload:
    """Decode embedded-order soft bits (+ means 1, - means 0, magnitude = reliability)."""
    soft = np.asarray(soft, dtype=np.float64)
    if soft.shape != (EMBEDDED_BITS,):
        raise InputError("soft bits", f"expected {EMBEDDED_BITS} values, got {soft.shape}")
    deinterleaved = np.empty_like(soft)
    deinterleaved[_INTERLEAVE] = soft
    unwhitened = np.where(_WHITENING == 1, -deinterleaved, deinterleaved)
    watermark_id, crc_ok = decode_coded(unwhitened[:CODED_BITS])
    return DecodedPayload(watermark_id, crc_ok, encode_payload(watermark_id))


def _id_bytes(watermark_id: str) -> bytes:
    try:
        data = bytes.fromhex(watermark_id)
    except ValueError:
        data = b""
    if len(data) != ID_BITS // 8:
        raise InputError("watermark_id", f"must be {ID_HEX_CHARS} hex characters, got "
                         f"{watermark_id!r}")
    return data


def _hash_stream(label: bytes, count: int) -> bytes:
    """Deterministic bytes from SHA-256 in counter mode: stable across numpy versions."""
    out = bytearray()
    counter = 0
    while len(out) < count:
        out += hashlib.sha256(label + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:count])


def _make_whitening() -> np.ndarray:
    stream = np.frombuffer(_hash_stream(_SCRAMBLE_LABEL + b" whitening", EMBEDDED_BITS),
                           dtype=np.uint8)
    return (stream & 1).astype(np.uint8)


def _make_interleave() -> np.ndarray:
    keys = np.frombuffer(_hash_stream(_SCRAMBLE_LABEL + b" interleave", 4 * EMBEDDED_BITS),
                         dtype=">u4")
    return np.argsort(keys, kind="stable")


def _parity(value: int) -> int:
    return value.bit_count() & 1


def _make_trellis() -> tuple[np.ndarray, np.ndarray]:
    """For each next state: its two predecessor states and the +-1 output pair of each edge."""
    predecessors = np.zeros((_STATES, 2), dtype=np.int64)
    outputs = np.zeros((_STATES, 2, 2), dtype=np.float64)
    for state in range(_STATES):
        bit = state >> (_CONSTRAINT - 2)
        for j in range(2):
            prev = ((state << 1) & (_STATES - 1)) | j
            register = (bit << (_CONSTRAINT - 1)) | prev
            predecessors[state, j] = prev
            outputs[state, j] = [2 * _parity(register & g) - 1 for g in _GENERATORS]
    return predecessors, outputs


def _conv_encode(bits: np.ndarray) -> np.ndarray:
    state = 0
    out = []
    for bit in [*bits.tolist(), *([0] * (_CONSTRAINT - 1))]:
        register = (bit << (_CONSTRAINT - 1)) | state
        out += [_parity(register & g) for g in _GENERATORS]
        state = register >> 1
    return np.array(out, dtype=np.uint8)


def _viterbi_decode(soft: np.ndarray) -> np.ndarray:
    """Maximum-correlation path through the terminated trellis; returns the DATA_BITS bits."""
    steps = soft.reshape(-1, 2)
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.zeros((len(steps), _STATES), dtype=np.int8)
    for t, pair in enumerate(steps):
        candidates = metric[_PREDECESSORS] + _OUTPUTS @ pair
        choices[t] = np.argmax(candidates, axis=1)
        metric = np.max(candidates, axis=1)
    state = 0  # terminated: the tail bits drive the encoder back to state 0
    bits = np.zeros(len(steps), dtype=np.uint8)
    for t in range(len(steps) - 1, -1, -1):
        bits[t] = state >> (_CONSTRAINT - 2)
        state = int(_PREDECESSORS[state, choices[t, state]])
    return bits[:DATA_BITS]


_WHITENING = _make_whitening()
_INTERLEAVE = _make_interleave()
_PREDECESSORS, _OUTPUTS = _make_trellis()
