"""Every page and API route checks the caller's role on the server."""

import pytest
from django.urls import reverse

from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

# (url name, kwargs, roles allowed). Other apps extend the route tables in their own tests.
PAGES = [
    ("home", {}, {"Annotator", "Maintainer", "Admin"}),
    ("curation:prompt_list", {}, {"Maintainer", "Admin"}),
    ("curation:import", {}, {"Maintainer", "Admin"}),
    ("curation:taxonomy", {}, {"Maintainer", "Admin"}),
    ("curation:prompt_detail", {"pk": "PROMPT"}, {"Maintainer", "Admin"}),
    ("releases:release_list", {}, {"Annotator", "Maintainer", "Admin"}),
    ("releases:release_create", {}, {"Maintainer", "Admin"}),
]
APIS = [
    ("api-taxonomies", {}, {"Annotator", "Maintainer", "Admin"}),
    ("api-techniques", {}, {"Annotator", "Maintainer", "Admin"}),
    ("api-prompts", {}, {"Maintainer", "Admin"}),
    ("api-prompt-detail", {"pk": "PROMPT"}, {"Maintainer", "Admin"}),
    ("api-releases", {}, {"Annotator", "Maintainer", "Admin"}),
]
ROLES = ["Annotator", "Maintainer", "Admin"]


def _url(name, kwargs, prompt):
    return reverse(name, kwargs={k: (prompt.pk if v == "PROMPT" else v) for k, v in kwargs.items()})


@pytest.fixture
def prompt(taxonomy):
    return PromptFactory()


@pytest.mark.parametrize("name,kwargs,allowed", PAGES)
def test_pages_send_anonymous_users_to_login(client, prompt, name, kwargs, allowed):
    response = client.get(_url(name, kwargs, prompt))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name,kwargs,allowed", PAGES)
@pytest.mark.parametrize("role", ROLES)
def test_pages_answer_by_role(client, prompt, name, kwargs, allowed, role):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username=f"u-{role}", role=role))
    response = client.get(_url(name, kwargs, prompt))
    assert response.status_code == (200 if role in allowed else 403)


def test_user_without_role_sees_no_pool(client, prompt):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="norole"))
    assert client.get(reverse("home")).status_code == 403
    assert client.get(reverse("curation:prompt_list")).status_code == 403
    assert client.get(reverse("api-taxonomies")).status_code == 403


@pytest.mark.parametrize("name,kwargs,allowed", APIS + [("api-prompts-import", {}, {"Maintainer", "Admin"})])
def test_apis_refuse_anonymous_with_401(client, prompt, name, kwargs, allowed):
    method = client.post if name == "api-prompts-import" else client.get
    response = method(_url(name, kwargs, prompt))
    assert response.status_code == 401


@pytest.mark.parametrize("name,kwargs,allowed", APIS)
@pytest.mark.parametrize("role", ROLES)
def test_apis_answer_by_role(client, prompt, name, kwargs, allowed, role):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username=f"u-{role}", role=role))
    response = client.get(_url(name, kwargs, prompt))
    assert response.status_code == (200 if role in allowed else 403)


def test_import_api_refuses_annotators(client, prompt, annotator):
    client.force_login(annotator)
    assert client.post(reverse("api-prompts-import")).status_code == 403


def test_token_auth_works_for_the_api(client, prompt, maintainer):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=maintainer)
    response = client.get(reverse("api-prompts"), HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize("role", ["Annotator", "Maintainer", "Admin", "superuser", "none"])
def test_a_token_carries_exactly_its_users_roles(client, prompt, role):
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from tests.factories import UserFactory

    if role == "superuser":
        user = UserFactory(username="root", role=None, is_superuser=True)
    else:
        user = UserFactory(username="someone", role=None if role == "none" else role)
    # Groups that are not roles give nothing, and do not hide the role next to them.
    user.groups.add(Group.objects.create(name="志愿者"), Group.objects.create(name="Maintainers of old"))
    key = Token.objects.create(user=user).key
    maintains = role in ("Maintainer", "Admin", "superuser")
    reads = client.get(reverse("api-taxonomies"), HTTP_AUTHORIZATION=f"Token {key}")
    lists = client.get(reverse("api-prompts"), HTTP_AUTHORIZATION=f"Token {key}")
    assert reads.status_code == (403 if role == "none" else 200)
    assert lists.status_code == (200 if maintains else 403)


def test_a_wrong_or_revoked_token_or_an_inactive_user_is_told_to_authenticate(client, annotator):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=annotator)
    url = reverse("api-taxonomies")
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    wrong = client.get(url, HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert wrong.status_code == 401 and wrong.json()["detail"] == "认证令牌无效。"  # Chinese is the default
    annotator.is_active = False
    annotator.save()
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401
    annotator.is_active = True
    annotator.save()
    token.delete()
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 401


def test_navigation_shows_only_what_the_role_may_use(client, prompt, annotator, maintainer):
    client.force_login(annotator)
    page = client.get(reverse("home")).content.decode()
    assert reverse("curation:import") not in page
    client.force_login(maintainer)
    page = client.get(reverse("home")).content.decode()
    assert reverse("curation:import") in page
    assert reverse("admin:index") not in page


def _readme_roles() -> dict[str, str]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Roles", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): cells[1].strip() for cells in rows if len(cells) == 2}


@pytest.mark.parametrize("role,sees", [("Annotator", False), ("Maintainer", True), ("Admin", True)])
def test_the_role_table_the_navigation_and_the_server_agree_on_the_agreement_dashboard(client, prompt, role, sees):
    """One decision (docs/agreement.md): maintainers and admins see agreement, annotators do not."""
    from tests.factories import UserFactory

    table = _readme_roles()
    granted = "agreement" in table[role] or (role == "Admin" and "everything a maintainer may" in table[role])
    assert granted == sees, table[role]
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    assert (reverse("agreement:dashboard") in client.get(reverse("home")).content.decode()) == sees
    assert client.get(reverse("agreement:dashboard")).status_code == (200 if sees else 403)
    assert client.get(reverse("api-agreement")).status_code == (200 if sees else 403)


def test_login_and_logout(client, maintainer):
    response = client.post(reverse("accounts:login"), {"username": "maint", "password": "pw-123456"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("home")).status_code == 302
