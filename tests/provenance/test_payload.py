from __future__ import annotations

import numpy as np
import pytest

from sonic_ext.errors import InputError
from sonic_ext.provenance.payload import (
    EMBEDDED_BITS,
    decode_payload,
    encode_payload,
    new_watermark_id,
)


def test_ids_are_48_bits_of_hex_and_differ() -> None:
    ids = {new_watermark_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)


def test_clean_bits_decode_to_the_same_id() -> None:
    watermark_id = new_watermark_id()
    bits = encode_payload(watermark_id)
    assert bits.shape == (EMBEDDED_BITS,) and set(np.unique(bits)) <= {0, 1}
    decoded = decode_payload(bits * 2.0 - 1.0)
    assert decoded.crc_ok and decoded.watermark_id == watermark_id
    assert decoded.agreement(bits * 2.0 - 1.0) == 1.0


def test_error_correction_recovers_the_id_with_flipped_or_noisy_bits() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        watermark_id = new_watermark_id()
        clean = encode_payload(watermark_id) * 2.0 - 1.0
        flipped = clean.copy()
        flipped[rng.choice(EMBEDDED_BITS, 6, replace=False)] *= -1
        noisy = clean + rng.normal(0, 0.6, EMBEDDED_BITS)  # about 5 % of signs wrong
        for soft in (flipped, noisy):
            decoded = decode_payload(soft)
            assert decoded.crc_ok and decoded.watermark_id == watermark_id


@pytest.mark.parametrize("soft", [np.ones(EMBEDDED_BITS), -np.ones(EMBEDDED_BITS),
                                  np.resize([1.0, -1.0], EMBEDDED_BITS),
                                  np.zeros(EMBEDDED_BITS)])
def test_structured_bits_from_unmarked_content_fail_the_crc(soft: np.ndarray) -> None:
    # Flat frames read as all-equal bits; the whitening keeps them from being a codeword.
    assert not decode_payload(soft).crc_ok


def test_random_bits_pass_the_crc_about_once_in_65536() -> None:
    rng = np.random.default_rng(0)
    passes = sum(decode_payload(rng.normal(size=EMBEDDED_BITS)).crc_ok for _ in range(2000))
    assert passes == 0  # expected 0.03; the bench runs a larger count


@pytest.mark.parametrize("bad", ["", "xyz", "00112233445", "0011223344556677"])
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(InputError, match="12 hex"):
        encode_payload(bad)
