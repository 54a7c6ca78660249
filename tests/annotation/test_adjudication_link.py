"""The agreement dashboard links a disagreed prompt to its adjudication page."""

import pytest
from django.urls import reverse

from tests.factories import PromptFactory, make_items, make_queue

pytestmark = pytest.mark.django_db


def test_prompt_link_opens_the_adjudication_of_its_queue_item(client, taxonomy, maintainer, annotator):
    make_queue(name="链接队列")
    item = make_items(1)[0]
    url = reverse("annotation:adjudication_for_prompt", args=[item.prompt_id])
    client.force_login(maintainer)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("annotation:adjudication_detail", args=[item.pk])
    assert client.get(reverse("annotation:adjudication_for_prompt", args=[PromptFactory().pk])).status_code == 404
    client.force_login(annotator)
    assert client.get(url).status_code == 403
