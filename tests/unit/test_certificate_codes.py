"""Certificate codes (SM-8, SM-9, SK-11) are encoded by hand for speed; they must stay exactly
the codes ``base64.b32encode`` gave, or stored certificates would no longer match a replay."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from loyalty.domain.certificates import certificate_code


def _reference(program_id: str, member_id: str, sequence: int) -> str:
    digest = hashlib.sha256(f"{program_id}:{member_id}:{sequence}".encode()).digest()
    return f"{program_id.upper()}-{base64.b32encode(digest).decode()[:10]}"


@given(
    st.sampled_from(["soko", "sogo", "soma", "my-program"]),
    st.text(min_size=1, max_size=40),
    st.integers(min_value=1, max_value=10**9),
)
def test_codes_equal_the_base32_of_the_digest(program: str, member: str, sequence: int) -> None:
    assert certificate_code(program, member, sequence) == _reference(program, member, sequence)


def test_a_known_code() -> None:
    assert certificate_code("soma", "a", 1) == "SOMA-5G7UHMDK2R"
