"""Every generation, event, template, candidate and endpoint route checks the role on the server."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MAINTAINERS = {"Maintainer", "Admin"}
ROLES = ["Annotator", "Maintainer", "Admin"]

PAGES = [
    ("generation:generation", {}),
    ("generation:run_detail", {"pk": "RUN"}),
    ("generation:template_list", {}),
    ("generation:template_edit", {"pk": "TEMPLATE"}),
    ("generation:event_list", {}),
    ("generation:event_create", {}),
    ("generation:event_edit", {"pk": "EVENT"}),
    ("generation:candidate_list", {}),
    ("llm:endpoint_list", {}),
    ("llm:endpoint_create", {}),
    ("llm:endpoint_edit", {"pk": "ENDPOINT"}),
]
POST_PAGES = [
    ("generation:run_start", {}),
    ("generation:run_cancel", {"pk": "RUN"}),
    ("generation:run_resume", {"pk": "RUN"}),
    ("llm:endpoint_test", {"pk": "ENDPOINT"}),
]
APIS = [
    ("api-runs", {}),
    ("api-run-detail", {"pk": "RUN"}),
    ("api-templates", {}),
    ("api-events", {}),
    ("api-event-detail", {"pk": "EVENT"}),
    ("api-endpoints", {}),
    ("api-endpoint-detail", {"pk": "ENDPOINT"}),
]
POST_APIS = [
    ("api-runs", {}),
    ("api-run-cancel", {"pk": "RUN"}),
    ("api-run-resume", {"pk": "RUN"}),
    ("api-events", {}),
    ("api-endpoints", {}),
    ("api-endpoint-test", {"pk": "ENDPOINT"}),
]


@pytest.fixture
def objects(taxonomy):
    import datetime as dt

    from curation.models import Dimension
    from generation import services as gen
    from generation.models import GeneratorTemplate
    from llm.services import endpoint_create

    endpoint = endpoint_create(name="e1", base_url="http://127.0.0.1:9/v1", model="m", max_concurrency=1, timeout=0.5)
    dim = Dimension.objects.get(taxonomy__code="v251030", code="legality")
    run = gen.run_create(count=5, endpoint=endpoint, dimension=dim, enqueue=False)
    event = gen.event_create(title="事件", date=dt.date(2025, 1, 1))
    return {"RUN": run.pk, "EVENT": event.pk, "ENDPOINT": endpoint.pk,
            "TEMPLATE": GeneratorTemplate.objects.filter(dimension=dim).first().pk}


def _url(name, kwargs, objects):
    return reverse(name, kwargs={k: objects.get(v, v) for k, v in kwargs.items()})


@pytest.mark.parametrize("name,kwargs", PAGES + POST_PAGES)
def test_anonymous_users_go_to_login(client, objects, name, kwargs):
    method = client.post if (name, kwargs) in POST_PAGES else client.get
    response = method(_url(name, kwargs, objects))
    assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name,kwargs", PAGES)
@pytest.mark.parametrize("role", ROLES)
def test_pages_answer_by_role(client, objects, name, kwargs, role):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    assert client.get(_url(name, kwargs, objects)).status_code == (200 if role in MAINTAINERS else 403)


@pytest.mark.parametrize("name,kwargs", POST_PAGES)
def test_annotators_cannot_start_cancel_or_test(client, objects, annotator, name, kwargs):
    client.force_login(annotator)
    assert client.post(_url(name, kwargs, objects)).status_code == 403


@pytest.mark.parametrize("name,kwargs", APIS + POST_APIS)
def test_apis_refuse_anonymous_with_401(client, objects, name, kwargs):
    method = client.post if (name, kwargs) in POST_APIS else client.get
    assert method(_url(name, kwargs, objects)).status_code == 401


@pytest.mark.parametrize("name,kwargs", APIS)
@pytest.mark.parametrize("role", ROLES)
def test_apis_answer_by_role(client, objects, name, kwargs, role):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    assert client.get(_url(name, kwargs, objects)).status_code == (200 if role in MAINTAINERS else 403)


@pytest.mark.parametrize("name,kwargs", POST_APIS)
def test_annotators_cannot_write_through_the_api(client, objects, annotator, name, kwargs):
    client.force_login(annotator)
    assert client.post(_url(name, kwargs, objects), {}, content_type="application/json").status_code == 403


def test_navigation_links_only_for_maintainers(client, objects, annotator, maintainer):
    client.force_login(annotator)
    page = client.get(reverse("home")).content.decode()
    assert reverse("generation:generation") not in page and reverse("llm:endpoint_list") not in page
    client.force_login(maintainer)
    page = client.get(reverse("home")).content.decode()
    for name in ("generation:generation", "generation:candidate_list", "generation:event_list", "llm:endpoint_list"):
        assert reverse(name) in page
