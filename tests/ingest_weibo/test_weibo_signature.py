import hashlib

import pytest

from ingest_weibo.signature import expected_signature, verify_signature

SECRET = "9b2a1c0f4e7d8a6b"
TIMESTAMP = "1342433360"
NONCE = "7293051"


def test_expected_signature_is_sha1_of_sorted_parts() -> None:
    # Sorted: "1342433360" < "7293051" < "9b2a1c0f4e7d8a6b".
    assert (
        expected_signature(SECRET, TIMESTAMP, NONCE) == hashlib.sha1(b"134243336072930519b2a1c0f4e7d8a6b").hexdigest()
    )


def test_valid_signature_is_accepted_in_either_case() -> None:
    signature = expected_signature(SECRET, TIMESTAMP, NONCE)
    assert verify_signature(SECRET, signature, TIMESTAMP, NONCE)
    assert verify_signature(SECRET, signature.upper(), TIMESTAMP, NONCE)


@pytest.mark.parametrize(
    ("secret", "timestamp", "nonce"),
    [("another-secret", TIMESTAMP, NONCE), (SECRET, "1342433361", NONCE), (SECRET, TIMESTAMP, "7293052")],
)
def test_signature_over_other_values_is_refused(secret: str, timestamp: str, nonce: str) -> None:
    assert not verify_signature(SECRET, expected_signature(secret, timestamp, nonce), TIMESTAMP, NONCE)


@pytest.mark.parametrize("forged", ["", "0" * 40, "签名" * 20, "not-hex"])
def test_forged_signature_is_refused(forged: str) -> None:
    assert not verify_signature(SECRET, forged, TIMESTAMP, NONCE)


@pytest.mark.parametrize(
    ("secret", "signature", "timestamp", "nonce"),
    [
        ("", expected_signature("", TIMESTAMP, NONCE), TIMESTAMP, NONCE),
        (SECRET, None, TIMESTAMP, NONCE),
        (SECRET, expected_signature(SECRET, "", NONCE), None, NONCE),
        (SECRET, expected_signature(SECRET, "", NONCE), "", NONCE),
        (SECRET, expected_signature(SECRET, TIMESTAMP, ""), TIMESTAMP, None),
        (SECRET, expected_signature(SECRET, TIMESTAMP, ""), TIMESTAMP, ""),
    ],
)
def test_missing_parameters_are_refused_even_when_signed(
    secret: str, signature: str | None, timestamp: str | None, nonce: str | None
) -> None:
    assert not verify_signature(secret, signature, timestamp, nonce)
