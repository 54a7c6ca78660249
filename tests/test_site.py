"""The site serves its own assets, its API schema and docs, and the demo data loads."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent


def test_no_template_loads_anything_from_another_host():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        for match in re.finditer(r'(?:src|href)=["\'](?:https?:)?//', path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert offenders == []


@pytest.mark.django_db
def test_vendored_htmx_is_served_by_the_app(client, maintainer):
    client.force_login(maintainer)
    page = client.get(reverse("home")).content.decode()
    src = re.search(r'<script src="([^"]*htmx[^"]*)"', page).group(1)
    assert src.startswith("/static/")
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    assert 'name="viewport"' in page


@pytest.mark.django_db
def test_openapi_schema_and_offline_docs(client, maintainer):
    client.force_login(maintainer)
    schema = client.get(reverse("schema"), {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/prompts/" in paths and "/api/prompts/import/" in paths and "/api/taxonomies/" in paths
    docs = client.get(reverse("swagger-ui")).content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()


@pytest.mark.django_db
def test_the_schema_and_its_docs_are_for_signed_in_users_with_a_role(client, annotator):
    from rest_framework.authtoken.models import Token

    from tests.factories import UserFactory

    schema = client.get(reverse("schema"), {"format": "json"})
    assert schema.status_code == 401 and "paths" not in schema.content.decode()
    docs = client.get(reverse("swagger-ui"))
    assert docs.status_code == 302 and docs["Location"].startswith(reverse("accounts:login"))
    script = client.get(reverse("swagger-ui"), {"script": ""})
    assert script.status_code == 302
    client.force_login(UserFactory())  # signed in, but no role
    assert client.get(reverse("schema"), {"format": "json"}).status_code == 403
    assert client.get(reverse("swagger-ui")).status_code == 403
    client.force_login(annotator)
    assert "/api/prompts/" in client.get(reverse("schema"), {"format": "json"}).json()["paths"]
    docs = client.get(reverse("swagger-ui"))
    assert docs.status_code == 200 and "swagger-ui" in docs.content.decode()
    client.logout()
    token = Token.objects.create(user=annotator)
    by_token = client.get(reverse("schema"), {"format": "json"}, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert by_token.status_code == 200 and "/api/prompts/" in by_token.json()["paths"]


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_the_logins(capsys, settings):
    settings.DEBUG = True  # the test runner turns it off; seed_demo is a development command
    call_command("seed_demo")
    first = capsys.readouterr().out
    for user in ("annotator1", "annotator2", "annotator3", "maintainer", "admin"):
        assert user in first
    from curation.models import Dimension, Prompt, Taxonomy, Technique

    counts = (Prompt.objects.count(), Taxonomy.objects.count(), Dimension.objects.count(), Technique.objects.count())
    call_command("seed_demo")
    assert (Prompt.objects.count(), Taxonomy.objects.count(), Dimension.objects.count(),
            Technique.objects.count()) == counts
    assert counts[1:] == (2, 11, 15)
    from cycles.models import CyclePlan

    assert list(CyclePlan.objects.values_list("name", "enabled")) == [("月度演示 / Monthly demo", False)]
    names = dict(Dimension.objects.filter(taxonomy__code="v251030").values_list("code", "name_zh"))
    assert names == {"legality": "合法性", "ethics": "伦理性", "factuality": "事实性", "privacy": "隐私性",
                     "robustness": "对抗鲁棒性", "reasoning": "推理安全"}


@pytest.mark.django_db
def test_demo_logins_reach_their_role_home_in_chinese(client, settings):
    settings.DEBUG = True
    call_command("seed_demo")
    from accounts.demo import DEMO_USERS

    titles = {"Annotator": "标注员首页", "Maintainer": "维护者首页", "Admin": "管理员首页"}
    for username, role, password in DEMO_USERS:
        client.logout()
        assert client.post(reverse("accounts:login"), {"username": username, "password": password}).status_code == 302
        assert titles[role] in client.get(reverse("home")).content.decode()
