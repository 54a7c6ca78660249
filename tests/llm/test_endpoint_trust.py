"""Who decides where the site sends requests: only maintainers and admins set an endpoint's base URL, on the
pages, through the API and in the Django admin; every way checks the same rules; the client built for an
endpoint keeps the outbound limits."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from llm import services
from llm.client import GuardedHttpClient
from llm.models import ModelEndpoint
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ELSEWHERE = "http://attacker.example/v1"


@pytest.fixture(autouse=True)
def _eager_celery():  # these tests touch no Celery task
    yield


@pytest.fixture
def endpoint():
    return services.endpoint_create(name="sim-judge", base_url="http://127.0.0.1:8765/v1", model="sim-judge",
                                    timeout=5)


def _form(endpoint, **changes):
    data = {"name": endpoint.name, "base_url": endpoint.base_url, "model": endpoint.model, "api_key_env": "",
            "max_concurrency": 4, "requests_per_minute": 600, "timeout": 5, "default_params": "{}", "notes": ""}
    data.update(changes)
    return data


def _unchanged(endpoint):
    endpoint.refresh_from_db()
    assert endpoint.base_url == "http://127.0.0.1:8765/v1"


def test_an_annotator_cannot_set_a_base_url_by_page_or_api(client, annotator, endpoint):
    client.force_login(annotator)
    assert client.post(reverse("llm:endpoint_edit", args=[endpoint.pk]),
                       _form(endpoint, base_url=ELSEWHERE)).status_code == 403
    assert client.post(reverse("llm:endpoint_create"), _form(endpoint, name="mine", base_url=ELSEWHERE)).status_code == 403
    assert client.patch(reverse("api-endpoint-detail", args=[endpoint.pk]), {"base_url": ELSEWHERE},
                        content_type="application/json").status_code == 403
    assert client.post(reverse("api-endpoints"), {"name": "mine", "base_url": ELSEWHERE, "model": "m"},
                       content_type="application/json").status_code == 403
    _unchanged(endpoint)
    assert not ModelEndpoint.objects.filter(name="mine").exists()


def test_a_staff_account_without_a_role_cannot_change_endpoints_in_the_admin(client, endpoint):
    staff = UserFactory(username="staff-only")
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="llm"))
    client.force_login(staff)
    change = reverse("admin:llm_modelendpoint_change", args=[endpoint.pk])
    assert client.get(reverse("admin:llm_modelendpoint_changelist")).status_code == 403
    assert client.get(change).status_code == 403
    assert client.post(change, _form(endpoint, base_url=ELSEWHERE)).status_code == 403
    assert client.get(reverse("admin:llm_modelendpoint_add")).status_code == 403
    _unchanged(endpoint)


def test_an_admin_changes_the_base_url_in_the_admin_under_the_same_rules(client, endpoint):
    boss = UserFactory(username="root")
    boss.is_staff = boss.is_superuser = True
    boss.save()
    client.force_login(boss)
    change = reverse("admin:llm_modelendpoint_change", args=[endpoint.pk])
    refused = client.post(change, _form(endpoint, base_url="http://127.0.0.1:9999/v1", api_key_env="sk-live-secret"))
    assert refused.status_code == 200 and "errorlist" in refused.content.decode()
    _unchanged(endpoint)
    saved = client.post(change, _form(endpoint, base_url="http://127.0.0.1:9999/v1", api_key_env="JUDGE_KEY"))
    assert saved.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.base_url, endpoint.api_key_env) == ("http://127.0.0.1:9999/v1", "JUDGE_KEY")
    added = client.post(reverse("admin:llm_modelendpoint_add"), _form(endpoint, name="new-one"))
    assert added.status_code == 302 and ModelEndpoint.objects.filter(name="new-one").exists()


def test_only_http_and_https_base_urls(client, maintainer, endpoint):
    with pytest.raises(services.EndpointError, match="http"):
        services.endpoint_update(endpoint=endpoint, base_url="ftp://127.0.0.1/v1")
    client.force_login(maintainer)
    response = client.patch(reverse("api-endpoint-detail", args=[endpoint.pk]), {"base_url": "ftp://127.0.0.1/v1"},
                            content_type="application/json")
    assert response.status_code == 400
    _unchanged(endpoint)
    assert client.patch(reverse("api-endpoint-detail", args=[endpoint.pk]), {"base_url": "https://llm.example/v1"},
                        content_type="application/json").status_code == 200


def test_the_client_for_an_endpoint_uses_the_size_limit_setting(endpoint, settings):
    settings.LLM_MAX_RESPONSE_BYTES = 12345
    with services.client_for(endpoint, cache=False) as client:
        http = client._openai._client
        assert isinstance(http, GuardedHttpClient) and http.max_response_bytes == 12345
        assert http.follow_redirects is False
