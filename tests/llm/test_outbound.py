"""What an endpoint can make the client do: no redirect is followed, replies are size- and time-limited.

Through the real openai SDK against the simulator's `redirect=`, `huge=`, `chunked` and `trickle=` faults.
"""

import time
import uuid

import openai
import pytest

from llm.client import LLMClient, http_client

from .conftest import sim_stats


def fault(spec):
    return {"X-Sim-Fault": spec, "X-Sim-Key": uuid.uuid4().hex}


def redirect_to(server, url, status=307, model="sim-target-50"):
    """A server-side fault, so the request a following client sends on carries no fault to the other server."""
    server.set_model_fault(model, f"redirect={url},redirect_status={status}")


@pytest.mark.parametrize("status", [307, 302, 301, 308])
def test_a_redirect_is_an_error_and_never_followed(sim, fresh_sim, make_client, status):
    elsewhere = f"{fresh_sim.base_url}/chat/completions"
    redirect_to(sim, elsewhere, status)
    c = make_client(sim, max_attempts=3)
    res = c.chat("你好")
    assert res.outcome == "error" and res.status_code == status
    assert res.attempts == 1  # not retried either
    assert "not followed" in res.error and elsewhere in res.error
    assert sim_stats(fresh_sim)["requests"] == 0
    assert sim_stats(sim)["requests"] == 1


def test_the_sdks_own_http_client_would_have_followed_the_redirect(sim, fresh_sim):
    """The fault really redirects to a working endpoint: the SDK left to its defaults ends up there."""
    redirect_to(sim, f"{fresh_sim.base_url}/chat/completions")
    plain = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0, timeout=5)
    try:
        raw = plain.post("/chat/completions", cast_to=bytes,
                         body={"model": "sim-target-50", "messages": [{"role": "user", "content": "你好"}]})
    finally:
        plain.close()
    assert b"choices" in raw
    assert sim_stats(fresh_sim)["requests"] == 1


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
def test_a_reply_over_the_size_limit_is_an_error_without_retry(sim, make_client, transfer):
    c = make_client(sim, max_attempts=3, max_response_bytes=1 << 20)
    spec = "huge=3000000" + (",chunked" if transfer == "chunked" else "")
    res = c.chat("你好", extra_headers=fault(spec))
    assert res.outcome == "error" and res.attempts == 1
    assert "ResponseTooLarge" in res.error and str(1 << 20) in res.error
    assert sim_stats(sim)["requests"] == 1


@pytest.mark.parametrize("transfer", ["", ",chunked"])
def test_a_reply_under_the_limit_arrives_whole(sim, make_client, transfer):
    c = make_client(sim, max_response_bytes=1 << 20)
    res = c.chat("你好", extra_headers=fault("huge=900000" + transfer))
    assert res.outcome == "ok" and len(res.content.encode("utf-8")) > 800_000
    assert res.content.endswith("填")


def test_a_shared_pool_keeps_the_limits(sim, fresh_sim, make_client):
    pool = http_client(max_response_bytes=1 << 20)
    try:
        c = make_client(sim, http_client=pool)
        assert c.chat("你好", extra_headers=fault("huge=3000000")).outcome == "error"
        assert c.chat("你好").outcome == "ok"
        redirect_to(sim, f"{fresh_sim.base_url}/chat/completions")
        res = c.chat("你好")
        assert res.outcome == "error" and res.status_code == 307
    finally:
        pool.close()
    assert sim_stats(fresh_sim)["requests"] == 0


def test_an_http_client_without_the_limits_is_refused(sim, make_client):
    import httpx2

    with pytest.raises(TypeError, match="http_client"):
        make_client(sim, http_client=openai.DefaultHttpxClient())
    with pytest.raises(TypeError, match="http_client"):
        LLMClient(make_client(sim).config, limiter=False, http_client=httpx2.Client())


def test_a_trickled_reply_cannot_outlast_the_timeout(sim, make_client):
    """Every piece comes well within the read timeout, the whole reply would take 4 s: the call stops
    once the timeout (0.5 s) has passed in total, and is retried like a timeout."""
    c = make_client(sim, timeout=0.5, max_attempts=2)
    started = time.monotonic()
    res = c.chat("你好", extra_headers=fault("trickle=4"))
    elapsed = time.monotonic() - started
    assert res.outcome == "error" and res.attempts == 2 and res.status_code is None
    assert "timeout" in res.error and "longer than 0.5s in total" in res.error
    assert elapsed < 2 * (0.5 + 0.5) + 0.5  # two attempts, each at most the timeout plus one read


def test_a_quick_trickle_within_the_timeout_is_fine(sim, make_client):
    res = make_client(sim, timeout=5).chat("你好", extra_headers=fault("trickle=0.4"))
    assert res.outcome == "ok" and res.content
