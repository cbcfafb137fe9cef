import pytest

from sessions_app import ratelimit
from sessions_app.exceptions import RateLimited


def test_hit_counts_and_refuses_over_limit():
    for n in range(1, 4):
        assert ratelimit.hit(scope="t", ident="a@example.com", limit=3, window=60) == n
    with pytest.raises(RateLimited) as exc:
        ratelimit.hit(scope="t", ident="A@example.com", limit=3, window=60, message="Slow down.")
    assert exc.value.message == "Slow down."
    assert 0 < exc.value.retry_after <= 60
    assert ratelimit.is_limited(scope="t", ident="a@example.com", limit=3, window=60)
    # Other identities and scopes are independent.
    assert ratelimit.hit(scope="t", ident="b@example.com", limit=3, window=60) == 1
    assert ratelimit.hit(scope="u", ident="a@example.com", limit=3, window=60) == 1


def test_reset_clears():
    ratelimit.hit(scope="t", ident="x", limit=1, window=60)
    ratelimit.reset(scope="t", ident="x", window=60)
    assert ratelimit.count(scope="t", ident="x", window=60) == 0
