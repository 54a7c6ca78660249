"""The Django admin writes no prompt text, labels or techniques: they change through curation's services only
(a hand-edited text would leave the unique normalized_hash stale)."""

import pytest
from django.urls import reverse

from curation.models import Dimension, Prompt, Technique
from curation.text import text_hash
from tests.factories import UserFactory, approved_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    boss = UserFactory(username="root")
    boss.is_staff = boss.is_superuser = True
    boss.save()
    client.force_login(boss)
    return client


def _change_form_data(page) -> dict:
    """What the change form would post back untouched: its own fields and those of its inlines."""
    data = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            data[form.add_prefix(name)] = "" if value is None else value
    return data


def test_the_prompt_admin_leaves_text_labels_and_techniques_alone(superuser_client, taxonomy):
    prompt = approved_prompt("请说明如何安全地保管个人证件", severity=2)
    prompt.techniques.set(Technique.objects.filter(code="role_play"))
    url = reverse("admin:curation_prompt_change", args=[prompt.pk])
    page = superuser_client.get(url)
    assert page.status_code == 200
    other = Dimension.objects.get(taxonomy__code="v251030", code="privacy")
    data = {
        **_change_form_data(page),
        "text": "改过的题目文本", "dimension": other.pk, "severity": 5, "techniques": [],
        "external_id": "ext-1",  # a field the admin may still change
    }
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    prompt.refresh_from_db()
    assert prompt.text == "请说明如何安全地保管个人证件" and prompt.normalized_hash == text_hash(prompt.text)
    assert (prompt.dimension.code, prompt.severity) == ("legality", 2)
    assert list(prompt.techniques.values_list("code", flat=True)) == ["role_play"]
    assert prompt.external_id == "ext-1"
    assert "请说明如何安全地保管个人证件" in superuser_client.get(url).content.decode()  # still shown


def test_prompts_are_not_added_in_the_admin(superuser_client, taxonomy):
    assert superuser_client.get(reverse("admin:curation_prompt_add")).status_code == 403
    before = Prompt.objects.count()
    superuser_client.post(reverse("admin:curation_prompt_add"), {"text": "新题目", "source": "manual"})
    assert Prompt.objects.count() == before
