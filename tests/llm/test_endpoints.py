"""Model endpoints: pages, API and command; the client built for them records calls, caches and limits."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from llm import services
from llm.models import LLMCall, ModelEndpoint, ResponseCacheEntry

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _eager_celery():  # these tests touch no Celery task
    yield


@pytest.fixture
def endpoint(sim):
    return services.endpoint_create(name="sim-target", base_url=sim.base_url, model="sim-target-50",
                                    max_concurrency=2, requests_per_minute=0, timeout=5)


def test_the_key_is_never_stored_only_the_variable_name(sim):
    with pytest.raises(services.EndpointError, match="NAME of an environment variable"):
        services.endpoint_create(name="x", base_url=sim.base_url, model="m", api_key_env="sk-abc123secret")
    e = services.endpoint_create(name="x", base_url=sim.base_url, model="m", api_key_env="MY_KEY")
    os.environ["MY_KEY"] = "sk-from-env"
    try:
        assert services.endpoint_config(e).api_key == "sk-from-env"
    finally:
        del os.environ["MY_KEY"]
    assert "sk-from-env" not in str(ModelEndpoint.objects.values().get(pk=e.pk))


@pytest.mark.parametrize("key", ["sk-abc123secret", "sk-live-123", "Bearer abc", "MY_KEY\n", "1ABC", "K" * 101])
def test_the_model_field_refuses_a_key_by_the_services_rule(key):
    from django.core.exceptions import ValidationError

    from llm.models import ENV_NAME_RE, validate_env_name

    endpoint = ModelEndpoint(name="x", base_url="http://127.0.0.1:9/v1", model="m", api_key_env=key)
    with pytest.raises(ValidationError) as caught:
        endpoint.full_clean()
    assert "api_key_env" in caught.value.message_dict
    with pytest.raises(ValidationError):
        validate_env_name(key)
    with pytest.raises(services.EndpointError):  # the service applies the same rule
        services.endpoint_validate({"api_key_env": key})
    assert ENV_NAME_RE.match(key) is None
    for name in ("MY_KEY", "_k", "OPENAI_API_KEY", "K" * 100):
        validate_env_name(name)
        ModelEndpoint(name="y", base_url="http://127.0.0.1:9/v1", model="m", api_key_env=name).full_clean()


def test_calls_are_recorded_and_a_rerun_never_pays_twice(endpoint, sim):
    with services.client_for(endpoint, purpose="test") as client:
        first = client.chat([{"role": "user", "content": "你好"}], temperature=0)
        second = client.chat([{"role": "user", "content": "你好"}], temperature=0)
    assert first.ok and second.cached and sim.stats()["requests"] == 1
    calls = list(LLMCall.objects.order_by("id"))
    assert [(c.outcome, c.cached, c.purpose) for c in calls] == [("ok", False, "test"), ("ok", True, "test")]
    assert calls[0].latency_ms > 0 and calls[0].prompt_tokens and calls[0].attempts == 1
    assert ResponseCacheEntry.objects.count() == 1
    with services.client_for(endpoint) as fresh:  # another process, same database: still cached
        assert fresh.chat([{"role": "user", "content": "你好"}], temperature=0).cached
    assert sim.stats()["requests"] == 1


def test_calls_from_worker_threads_are_written_by_the_owner(endpoint, sim):
    from concurrent.futures import ThreadPoolExecutor

    client = services.client_for(endpoint)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: client.chat(f"问题{i}"), range(8)))
    assert all(r.ok for r in results) and LLMCall.objects.count() == 0  # buffered
    services.client_flush(client)
    assert LLMCall.objects.count() == 8 and ResponseCacheEntry.objects.count() == 8
    client.close()


def test_limits_are_shared_across_processes(endpoint, settings, tmp_path):
    settings.REDIS_URL = ""
    settings.VAR_DIR = tmp_path
    limiter = services.limiter_for(endpoint)
    assert limiter.backend == "file" and str(tmp_path) in limiter._backend.base
    settings.REDIS_URL = "redis://127.0.0.1:6379/3"
    assert services.limiter_for(endpoint).backend == "redis"


def test_endpoint_pages_create_edit_and_test_connection(client_for, maintainer, sim):
    client = client_for(maintainer)
    response = client.post(reverse("llm:endpoint_create"), {
        "name": "gen", "base_url": sim.base_url, "model": "sim-generator", "api_key_env": "GEN_KEY",
        "max_concurrency": 3, "requests_per_minute": 60, "timeout": 5, "default_params": '{"top_p": 0.9}',
    })
    assert response.status_code == 302
    e = ModelEndpoint.objects.get(name="gen")
    assert e.default_params == {"top_p": 0.9} and e.max_concurrency == 3
    bad = client.post(reverse("llm:endpoint_edit", args=[e.pk]), {
        "name": "gen", "base_url": sim.base_url, "model": "m", "api_key_env": "sk-live-123", "max_concurrency": 3,
        "requests_per_minute": 60, "timeout": 5, "default_params": "[1]"})
    assert bad.status_code == 400 and bad.content.decode().count('class="errorlist') == 2  # key and params
    e.refresh_from_db()
    assert e.api_key_env == "GEN_KEY" and e.model == "sim-generator"
    fragment = client.post(reverse("llm:endpoint_test", args=[e.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "test-result" in fragment and "<html" not in fragment and "approved" in fragment
    down = services.endpoint_create(name="down", base_url="http://127.0.0.1:9/v1", model="m", timeout=0.5)
    fragment = client.post(reverse("llm:endpoint_test", args=[down.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "error" in fragment and "connection error" in fragment
    listing = client.get(reverse("llm:endpoint_list")).content.decode()
    assert "gen" in listing and "down" in listing
    assert "毫秒" in listing and " ms" not in listing  # the average latency in the page's language


def test_endpoint_api(client_for, maintainer, sim):
    client = client_for(maintainer)
    response = client.post(reverse("api-endpoints"), {"name": "api-e", "base_url": sim.base_url, "model": "sim-judge",
                                                       "max_concurrency": 2}, content_type="application/json")
    assert response.status_code == 201 and response.json()["max_concurrency"] == 2
    pk = response.json()["id"]
    assert client.post(reverse("api-endpoints"), {"name": "api-e", "base_url": sim.base_url, "model": "x"},
                       content_type="application/json").status_code == 400
    # More requests a minute than the column holds: full_clean refused it past the serializer (a 500).
    too_many = client.post(reverse("api-endpoints"), {"name": "api-f", "base_url": sim.base_url, "model": "x",
                                                      "requests_per_minute": 2**31}, content_type="application/json")
    assert too_many.status_code == 400 and set(too_many.json()) == {"requests_per_minute"}
    # A timeout the socket cannot hold was stored, and every call of the endpoint then failed with a 500.
    forever = client.patch(reverse("api-endpoint-detail", args=[pk]), {"timeout": 1e308}, content_type="application/json")
    assert forever.status_code == 400 and "at most 3600 seconds" in forever.json()["detail"]
    patched = client.patch(reverse("api-endpoint-detail", args=[pk]), {"timeout": 3}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["timeout"] == 3
    tested = client.post(reverse("api-endpoint-test", args=[pk])).json()
    assert tested["outcome"] == "ok" and tested["latency_ms"] > 0
    assert [e["name"] for e in client.get(reverse("api-endpoints")).json()] == ["api-e"]


def test_add_endpoint_command(sim, capsys):
    call_command("add_endpoint", "deepseek", "--base-url", sim.base_url, "--model", "sim-judge", "--api-key-env",
                 "DEEPSEEK_API_KEY", "--max-concurrency", "6")
    assert "created endpoint deepseek" in capsys.readouterr().out
    call_command("add_endpoint", "deepseek", "--base-url", sim.base_url, "--model", "sim-judge", "--max-concurrency", "8")
    e = ModelEndpoint.objects.get(name="deepseek")
    assert e.max_concurrency == 8 and "updated" in capsys.readouterr().out
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="environment variable"):
        call_command("add_endpoint", "bad", "--base-url", sim.base_url, "--model", "m", "--api-key-env", "sk-123")


def test_llm_simulator_command_serves_the_models():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "manage.py", "llm_simulator", "--port", str(port), "--quiet"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1) as r:
                    body = r.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert "sim-generator" in body and "tiny-markov" in body
    finally:
        proc.terminate()
        proc.wait(10)
