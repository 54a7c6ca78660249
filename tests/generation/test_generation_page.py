"""A run's page while it polls: every live part (progress, quality gate, batch table) is in the htmx fragment."""

import re

import pytest
from django.urls import reverse

from generation import services as gen

pytestmark = pytest.mark.django_db

ROW_RE = re.compile(
    r'<tr class="batch-row" data-batch="(\d+)" data-status="(\w+)"><td>\d+</td><td>([^<]*)</td><td>(\d+)</td>'
    r'<td>(\d+)</td><td class="batch-created">(\d+)</td><td>(\d+)</td><td>(\d+)</td><td class="batch-gated">(\d+)</td>'
)


def _rows(fragment: str) -> dict[int, tuple]:
    """batch number -> (status, status label, requested, parsed, created, exact, near, gated)."""
    return {int(m[0]): (m[1], m[2], *map(int, m[3:])) for m in ROW_RE.findall(fragment)}


def test_the_polled_fragment_carries_the_batch_table_with_its_current_numbers(
    client_for, maintainer, make_endpoint, legality
):
    run = gen.run_create(count=20, batch_size=10, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    client = client_for(maintainer)
    url = reverse("generation:run_detail", args=[run.pk])

    def fragment():
        html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
        assert "<html" not in html and html.lstrip().startswith('<div id="run-progress"')
        return html

    queued = fragment()
    assert 'hx-trigger="every 1s"' in queued
    assert _rows(queued) == {1: ("pending", "待处理", 10, 0, 0, 0, 0, 0), 2: ("pending", "待处理", 10, 0, 0, 0, 0, 0)}

    first, second = run.batches.order_by("index")
    gen.run_execute_batch(batch_id=first.pk)  # half-way: one batch recorded, the run still active
    half = fragment()
    assert 'hx-trigger="every 1s"' in half and "1 / 2" in half
    assert _rows(half) == {1: ("done", "完成", 10, 10, 10, 0, 0, 0), 2: ("pending", "待处理", 10, 0, 0, 0, 0, 0)}

    gen.run_execute(run_id=run.pk)
    done = fragment()
    assert "hx-trigger" not in done and "2 / 2" in done and 'id="created">20<' in done
    assert _rows(done) == {1: ("done", "完成", 10, 10, 10, 0, 0, 0), 2: ("done", "完成", 10, 10, 10, 0, 0, 0)}
    # The full page renders the same partial in place: one batch table, not one in and one out of the fragment.
    page = client.get(url).content.decode()
    assert page.count('id="batches"') == 1 and _rows(page) == _rows(done)


def test_the_gate_summary_is_part_of_the_polled_fragment(client_for, maintainer, make_endpoint, legality):
    run = gen.run_create(count=10, endpoint=make_endpoint(model="sim-generator@echo=mixed"), dimension=legality,
                         enqueue=False)
    client = client_for(maintainer)
    url = reverse("generation:run_detail", args=[run.pk])
    assert 'id="quality-gate"' not in client.get(url, HTTP_HX_REQUEST="true").content.decode()
    gen.run_execute(run_id=run.pk)
    run.refresh_from_db()
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert run.gated and 'id="quality-gate"' in fragment and f'id="gated">{run.gated}<' in fragment
    assert fragment.count('class="gated-text"') == run.gated
    assert sum(r[7] for r in _rows(fragment).values()) == run.gated


# --- refusals in the page's language -------------------------------------------------------------------------------


def test_refusals_on_the_run_and_template_pages_read_in_the_page_language(client_for, maintainer, make_endpoint,
                                                                          legality):
    from generation.models import GeneratorTemplate

    client = client_for(maintainer)
    run = gen.run_create(count=10, endpoint=make_endpoint(), dimension=legality, enqueue=False)
    gen.run_cancel(run=run, actor=maintainer)
    run.refresh_from_db()
    assert run.error == f"cancelled by {maintainer}"  # stored in English, shown in the viewer's language
    cancel = reverse("generation:run_cancel", args=[run.pk])
    page = client.post(cancel, {"confirm": "1"}, follow=True).content.decode()
    assert "只有排队中或运行中的任务可以取消" in page and "can be cancelled" not in page
    assert f"已由 {maintainer} 取消" in page and "cancelled by" not in page
    template = GeneratorTemplate.objects.filter(scope="dimension").order_by("pk").first()
    edit = reverse("generation:template_edit", args=[template.pk])
    page = client.post(edit, {"body": "长" * 20001, "system_text": "", "notes": ""}).content.decode()
    assert "模板太长（最多 20,000 个字符）" in page

    client.cookies["django_language"] = "en"
    page = client.post(cancel, {"confirm": "1"}, follow=True).content.decode()
    assert "only a queued or running run can be cancelled" in page and f"cancelled by {maintainer}" in page
    page = client.post(edit, {"body": "长" * 20001, "system_text": "", "notes": ""}).content.decode()
    assert "the template is too long (20,000 characters at most)" in page


def test_the_run_page_names_techniques_and_the_dimension_in_the_page_language(client_for, maintainer, make_endpoint,
                                                                             legality):
    from curation.models import Technique

    role_play = Technique.objects.get(code="role_play")
    run = gen.run_create(count=10, endpoint=make_endpoint(), dimension=legality, techniques=[role_play],
                         enqueue=False)
    client = client_for(maintainer)
    url = reverse("generation:run_detail", args=[run.pk])
    page = client.get(url).content.decode()
    assert f'<span class="badge" title="role_play">{role_play.name_zh}</span>' in page and legality.name_zh in page
    client.cookies["django_language"] = "en"
    page = client.get(url).content.decode()
    assert f'<span class="badge" title="role_play">{role_play.name_en}</span>' in page
    assert legality.name_en in page and legality.name_zh not in page
