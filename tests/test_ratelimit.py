import pytest

from insideout.ratelimit import RateLimited, RateLimiter, RateLimits


def test_the_limit_allows_then_refuses_then_allows_again():
    limiter = RateLimiter(3, window_s=60)
    assert [limiter.hit("a", now=t) for t in (0, 1, 2)] == [0, 0, 0]
    assert limiter.hit("a", now=3) > 0
    assert limiter.hit("b", now=3) == 0
    assert limiter.hit("a", now=61) == 0


def test_a_new_challenge_counts_as_a_request_and_as_a_challenge():
    limits = RateLimits.per_minute(requests=3, challenges=1)
    limits.new_challenge("a")
    with pytest.raises(RateLimited) as refused:
        limits.new_challenge("a")
    assert refused.value.what == "new challenges" and 0 < refused.value.retry_after <= 60
    limits.request("a")  # the refused challenge still counted as a request: this is the third
    with pytest.raises(RateLimited):
        limits.request("a")


def test_one_client_over_its_limit_leaves_another_free():
    limits = RateLimits.per_minute(requests=1, challenges=1)
    limits.request("a")
    with pytest.raises(RateLimited):
        limits.request("a")
    limits.request("b")
