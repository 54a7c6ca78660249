"""Evaluation pages: starting a run, its live progress and actions, leaderboards (labels, languages, rank
changes, charts), exports, a model's drill-down, rubrics; hostile text stays escaped."""

import csv
import io
import json
import re

import pytest
from django.conf import settings
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils.html import escape

from evaluation import exports, selectors, views
from evaluation.models import EvalRun, Rubric
from evaluation.services import run_create
from releases import services as releases
from tests.evaluation.pages_fixtures import *  # noqa: F403
from tests.evaluation.pages_fixtures import holdout_item
from tests.factories import approved_prompt

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(client):
    """The pages in English, so assertions read the msgids; a test that checks Chinese asks for it."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def _chinese(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    return client


def _chart(page: str) -> dict:
    return json.loads(page.split('id="leaderboard-chart-data" type="application/json">')[1].split("</script>")[0])


def _queued_run(release, targets, judge, **options):
    return run_create(release=release, targets=targets[:2], judge=judge, enqueue=False, **options)


def test_refusals_on_the_run_page_read_in_the_page_language(client, maintainer, frozen_release, targets, judge):
    client.force_login(maintainer)
    queued = _queued_run(frozen_release(per_dimension=1), targets, judge, mode="livesecbench")
    publish = reverse("evaluation:run_publish", args=[queued.pk])
    page = _chinese(client).post(publish, {"confirm": "1"}, follow=True).content.decode()
    assert "只有已完成的评测可以发布" in page and "only a finished" not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.post(publish, {"confirm": "1"}, follow=True).content.decode()
    assert "only a finished evaluation can be published" in page
    assert EvalRun.objects.get(pk=queued.pk).published_at is None
    client.post(reverse("evaluation:run_cancel", args=[queued.pk]), {"confirm": "1"})
    detail = reverse("evaluation:run_detail", args=[queued.pk])
    assert f'id="run-error">cancelled by {maintainer}<' in client.get(detail).content.decode()
    assert f'id="run-error">已由 {maintainer} 取消<' in _chinese(client).get(detail).content.decode()


# -- starting runs -----------------------------------------------------------------------------


def test_the_start_form_offers_frozen_releases_endpoints_and_a_judge_per_dimension(client, maintainer, frozen_release,
                                                                                  targets, judge):
    first = frozen_release(per_dimension=1, dimensions=("factuality",))
    release = frozen_release(per_dimension=2)
    client.force_login(maintainer)
    page = _chinese(client).get(reverse("evaluation:run_list")).content.decode()
    assert f'<option value="{release.version}" selected>' in page and f'<option value="{first.version}">' in page
    assert 'name="judge__legality"' in page and 'name="judge__privacy"' in page and "合法性" in page
    assert "sim-target-90" in page and 'value="sim-judge" selected' in page
    # Choosing the release swaps in that release's dimensions (htmx), nothing else.
    fragment = client.get(reverse("evaluation:run_list"), {"part": "judges", "release": first.version},
                          HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<fieldset id="dimension-judges">') and "<html" not in fragment
    assert 'name="judge__factuality"' in fragment and "judge__legality" not in fragment


def test_starting_a_run_keeps_the_target_order_and_the_judges_per_dimension(client, maintainer, frozen_release,
                                                                            targets, judge, make_endpoint):
    release = frozen_release(per_dimension=2)
    other_judge = make_endpoint("sim-judge-2", model="sim-judge")
    client.force_login(maintainer)
    response = client.post(reverse("evaluation:run_start"), {
        "release": release.version, "targets": "sim-target-50\r\nsim-target-90, sim-target-10", "judge": "sim-judge",
        "judge__ethics": "sim-judge-2", "mode": "livesecbench", "seed": "7", "system_prompt": "你是助手。\r\n请回答。",
        "temperature": "0.2", "max_tokens": "512", "anchor_rating": "1500", "resamples": "1000",
    })
    run = EvalRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("evaluation:run_detail", args=[run.pk])
    assert [t.name for t in selectors.run_targets(run=run)] == ["sim-target-50", "sim-target-90", "sim-target-10"]
    assert run.judge == judge and run.judges == {"ethics": other_judge.pk}
    assert (run.seed, run.temperature, run.max_tokens, run.mode) == (7, 0.2, 512, "livesecbench")
    assert run.system_prompt == "你是助手。\n请回答。" and run.created_by == maintainer
    assert run.status == EvalRun.Status.QUEUED and run.shards.count() == 3  # planned, queued after commit


@pytest.mark.parametrize("fields, message", [
    ({"targets": "sim-target-90"}, "choose at least two target models"),
    ({"targets": "sim-target-90\nno-such-model"}, "No endpoint named no-such-model."),
    ({"targets": "sim-target-90\nsim-target-90"}, "Listed more than once: sim-target-90."),
    ({"temperature": "3"}, "Ensure this value is less than or equal to 2."),
    ({"anchor": "sim-target-10"}, "the anchor model &#x27;sim-target-10&#x27; is not one of the targets"),
])
def test_a_refused_start_says_why_and_writes_nothing(client, maintainer, frozen_release, targets, judge, fields,
                                                     message):
    release = frozen_release(per_dimension=2)
    client.force_login(maintainer)
    data = {"release": release.version, "targets": "sim-target-90\nsim-target-50", "judge": "sim-judge",
            "mode": "robust", "seed": "0", "anchor_rating": "1500", "resamples": "1000", **fields}
    response = client.post(reverse("evaluation:run_start"), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not EvalRun.objects.exists()


# -- following a run ---------------------------------------------------------------------------


def test_run_detail_shows_its_parameters(client, maintainer, frozen_release, targets, judge, make_endpoint):
    release = frozen_release(per_dimension=2)
    other_judge = make_endpoint("sim-judge-2", model="sim-judge")
    run = run_create(release=release, targets=[targets[3], targets[0]], judge=judge, judges={"privacy": other_judge},
                     seed=42, system_prompt="<b>系统</b>提示", temperature=0.7, actor=maintainer, enqueue=False,
                     mode="livesecbench")
    client.force_login(maintainer)
    page = client.get(reverse("evaluation:run_detail", args=[run.pk])).content.decode()
    targets_list = page.split('<ol id="run-targets">')[1].split("</ol>")[0]
    assert targets_list.index("sim-target-30") < targets_list.index("sim-target-90")
    assert "sim-judge-2" in page and "Privacy: sim-judge-2" in page and release.version in page and ">42<" in page
    for rubric_id in run.rubrics.values():
        rubric = Rubric.objects.get(pk=rubric_id)
        assert f'href="{reverse("evaluation:rubric_detail", args=[rubric_id])}">v{rubric.version}</a>' in page
    assert "&lt;b&gt;系统&lt;/b&gt;提示" in page and "0.7" in page and maintainer.username in page
    assert reverse("evaluation:leaderboard", args=[release.version]) in page


def test_the_polled_fragment_holds_every_number_that_changes(client, maintainer, frozen_release, targets, judge):
    release = frozen_release(per_dimension=2)
    run = _queued_run(release, targets, judge, mode="livesecbench")
    EvalRun.objects.filter(pk=run.pk).update(
        status="running", phase="judging", answers_done=11, answers_total=12, matches_done=13, matches_total=140,
        target_calls=15, judge_calls=16, prompt_tokens=1700, completion_tokens=18, answers_reused=19,
        verdicts_reused=20, errors=21, error="第一次调用<失败>",
    )
    run.shards.filter(kind="answers").update(done=1, status="running", error="shard <err>")
    client.force_login(maintainer)
    url = reverse("evaluation:run_detail", args=[run.pk])
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and fragment.strip().startswith('<div id="run-progress"')
    assert f'hx-get="{url}" hx-trigger="every 1s"' in fragment
    expected = {"answers": "11 / 12", "matches": "13 / 140", "target-calls": "15", "judge-calls": "16",
                "tokens": "1718", "answers-reused": "19", "verdicts-reused": "20", "run-errors": "21"}
    for element, value in expected.items():
        assert f'id="{element}">{value}</div>' in fragment, element
    assert "tokens (1700 prompt, 18 completion)" in fragment
    assert 'id="run-status">Running</span>' in fragment and 'id="run-phase">Judging</span>' in fragment
    assert "第一次调用&lt;失败&gt;" in fragment and "shard &lt;err&gt;" in fragment and 'id="run-shards"' in fragment
    assert f'id="run-percent">{run.__class__.objects.get(pk=run.pk).percent}%' in fragment
    assert 'id="cancel-run"' in fragment
    # Nothing that changes lives outside what the poll replaces.
    page = client.get(url).content.decode()
    start, body = page.index('<div id="run-progress"'), fragment.strip()
    inside = page[start:start + len(body)]
    assert inside[-200:] == body[-200:]  # the same block, CSRF tokens aside
    outside = page[:start] + page[start + len(body):]
    for element in [*expected, "run-status", "run-phase", "run-percent", "run-shards", "run-error", "cancel-run"]:
        assert f'id="{element}"' not in outside, element
    # A finished run is not polled and offers publishing.
    EvalRun.objects.filter(pk=run.pk).update(status="succeeded", phase="done")
    done = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in done and 'id="publish-run"' in done and 'id="cancel-run"' not in done


def test_cancel_resume_publish_and_unpublish_from_the_run_page(client, maintainer, evaluated, frozen_release, targets,
                                                               judge):
    client.force_login(maintainer)
    queued = _queued_run(evaluated["release"], targets, judge, mode="livesecbench")
    page = client.get(reverse("evaluation:run_detail", args=[queued.pk])).content.decode()
    cancel_form = page.split(f'action="{reverse("evaluation:run_cancel", args=[queued.pk])}"')[1].split("</form>")[0]
    assert '<input type="checkbox" name="confirm" value="1" required' in cancel_form and "onclick" not in page
    response = client.post(reverse("evaluation:run_cancel", args=[queued.pk]), follow=True)  # not confirmed
    assert EvalRun.objects.get(pk=queued.pk).status == "queued"
    assert "Tick the confirmation to cancel." in response.content.decode()
    client.post(reverse("evaluation:run_cancel", args=[queued.pk]), {"confirm": "1"})
    assert EvalRun.objects.get(pk=queued.pk).status == "cancelled"
    page = client.get(reverse("evaluation:run_detail", args=[queued.pk])).content.decode()
    assert 'id="resume-run"' in page and 'id="publish-run"' not in page
    client.post(reverse("evaluation:run_resume", args=[queued.pk]))
    assert EvalRun.objects.get(pk=queued.pk).status == "queued"
    response = client.post(reverse("evaluation:run_publish", args=[queued.pk]), {"confirm": "1"}, follow=True)
    assert "only a finished evaluation can be published" in response.content.decode()
    assert EvalRun.objects.get(pk=queued.pk).published_at is None

    run = evaluated["run"]
    response = client.post(reverse("evaluation:run_publish", args=[run.pk]), follow=True)  # not confirmed
    assert EvalRun.objects.get(pk=run.pk).published_at is None and "Tick the confirmation" in response.content.decode()
    client.post(reverse("evaluation:run_publish", args=[run.pk]), {"confirm": "1"})
    published = EvalRun.objects.get(pk=run.pk)
    assert published.published_at is not None and published.published_by == maintainer
    page = client.get(reverse("evaluation:run_detail", args=[run.pk])).content.decode()
    assert 'id="unpublish-run"' in page and 'id="run-published"' in page
    response = client.post(reverse("evaluation:run_unpublish", args=[run.pk]), follow=True)  # not confirmed
    assert EvalRun.objects.get(pk=run.pk).published_at is not None
    assert "Tick the confirmation to unpublish." in response.content.decode()
    unpublish_form = page.split(f'action="{reverse("evaluation:run_unpublish", args=[run.pk])}"')[1].split("</form>")[0]
    assert '<input type="checkbox" name="confirm" value="1" required' in unpublish_form
    client.post(reverse("evaluation:run_unpublish", args=[run.pk]), {"confirm": "1"})
    assert EvalRun.objects.get(pk=run.pk).published_at is None
    assert client.get(reverse("evaluation:run_cancel", args=[run.pk])).status_code == 405


# -- leaderboards ------------------------------------------------------------------------------


def test_the_leaderboard_labels_an_unpublished_board_and_names_dimensions_in_the_page_language(client, annotator,
                                                                                               maintainer, evaluated):
    release, run = evaluated["release"], evaluated["run"]
    client.force_login(annotator)
    url = reverse("evaluation:leaderboard", args=[release.version])
    page = _chinese(client).get(url).content.decode()
    assert "合法性" in page and "伦理性" in page and "Legality" not in page
    board = selectors.leaderboard(release=release)
    order = [page.index(f'data-model="{r.name}"') for r in board.rows]
    assert order == sorted(order) and [r.rank for r in board.rows] == sorted(r.rank for r in board.rows)
    for r in board.rows:
        assert reverse("evaluation:drilldown", args=[run.pk, r.target_id]) in page
        assert f"{r.overall:.2f}" in page
    assert f'href="{reverse("evaluation:run_detail", args=[run.pk])}"' not in page  # the run page: maintainers
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(url).content.decode()
    assert "Not published yet" in english and "Legality" in english and "Ethics" in english and "合法性" not in english.split("<table")[1]
    assert [c for c in _chart(english)["categories"]] == ["Overall", "Legality", "Ethics", "Privacy"]

    client.force_login(maintainer)
    client.post(reverse("evaluation:run_publish", args=[run.pk]), {"confirm": "1"})
    client.force_login(annotator)
    assert 'class="badge run-succeeded">Published' in client.get(url).content.decode()


def test_the_chart_labels_come_from_the_server_in_the_page_language(client, annotator, evaluated):
    client.force_login(annotator)
    url = reverse("evaluation:leaderboard", args=[evaluated["release"].version])
    chinese = _chart(_chinese(client).get(url).content.decode())
    assert chinese["labels"] == {"score": "得分（0–100）", "rating": "评分", "round": "轮次", "interval": "95% 置信区间"}
    assert chinese["categories"][:2] == ["总分", "合法性"]
    assert chinese["rounds"][0]["label"] == "合法性" and chinese["rounds"][0]["rounds"][0] == "初始"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = _chart(client.get(url).content.decode())
    assert english["labels"] == {"score": "Score (0–100)", "rating": "Rating", "round": "Round",
                                 "interval": "95% interval"}
    assert english["rounds"][0]["label"] == "Legality" and english["rounds"][0]["rounds"][0] == "Start"
    script = (settings.BASE_DIR / "static" / "evaluation" / "leaderboard.js").read_text()
    assert not re.search(r"[\u4e00-\u9fff]", script)  # no label written into the script in one language


def test_the_chart_data_has_every_model_per_dimension_and_its_rating_round_by_round(client, annotator, evaluated):
    release, run = evaluated["release"], evaluated["run"]
    client.force_login(annotator)
    page = client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode()
    assert "vendor/chart-4.6.1.umd.min.js" in page and "evaluation/leaderboard.js" in page
    assert 'id="chart-dimensions"' in page and 'id="chart-rounds"' in page and "onchange" not in page
    chart = _chart(page)
    board = selectors.leaderboard(release=release)
    assert [m["name"] for m in chart["models"]] == [r.name for r in board.rows]
    codes = [d["code"] for d in board.dimensions]
    assert chart["models"][0]["values"] == [board.rows[0].overall] + [board.rows[0].scores[c] for c in codes]
    by_code = {d["code"]: d for d in run.results["dimensions"]}
    assert [r["code"] for r in chart["rounds"]] == codes
    for entry in chart["rounds"]:
        played = by_code[entry["code"]]["rounds"]
        assert len(entry["rounds"]) == len(played) + 1 and len(played) >= 1
        first = next(s for s in entry["series"] if s["name"] == board.rows[0].name)
        assert first["ratings"][0] == 1500
        assert first["ratings"][-1] == pytest.approx(by_code[entry["code"]]["ratings"][str(board.rows[0].target_id)])


def test_rank_changes_against_the_parent_release(client, annotator, evaluated, frozen_release, evaluate, targets,
                                                 reasoner):
    parent = evaluated["release"]
    child = frozen_release(per_dimension=4, holdout_fraction=0.34, parent=parent.version)
    evaluate(child, models=[targets[2], targets[0], reasoner, targets[4]], seed=3)
    client.force_login(annotator)
    page = client.get(reverse("evaluation:leaderboard", args=[child.version])).content.decode()
    assert f"Change vs {parent.version}" in page
    board = selectors.leaderboard(release=child)
    for r in board.rows:
        cell = re.search(rf'data-model="{r.name}">.*?<td class="change change-(\w+)">([^<]*)</td>', page, re.S)
        expected = ("new" if r.rank_change is None else f"↑{r.rank_change}" if r.rank_change > 0
                    else f"↓{-r.rank_change}" if r.rank_change < 0 else "—")
        assert cell.group(2) == expected, (r.name, r.rank_change)
    assert next(r for r in board.rows if r.name == "sim-target-10").rank_change is None
    # The parent's own board has nothing to compare with.
    assert "Change vs" not in client.get(reverse("evaluation:leaderboard", args=[parent.version])).content.decode()
    index = client.get(reverse("evaluation:leaderboard_index")).content.decode()
    assert index.index(f">{child.version}</a>") < index.index(f">{parent.version}</a>")


def test_a_maintainer_may_look_at_any_finished_run_of_a_release(client, maintainer, annotator, evaluated, evaluate,
                                                                targets):
    release, first = evaluated["release"], evaluated["run"]
    second = evaluate(release, models=targets[:3], seed=9)
    url = reverse("evaluation:leaderboard", args=[release.version])
    client.force_login(maintainer)
    assert 'data-model="sim-target-70"' in client.get(url).content.decode()  # the latest finished run
    page = client.get(url, {"run": first.pk}).content.decode()
    assert 'data-model="sim-target-70"' not in page and f"?run={first.pk}" in page
    assert client.get(url, {"run": 999999}).status_code == 404
    client.force_login(annotator)  # others always see the board's run
    assert 'data-model="sim-target-70"' in client.get(url, {"run": first.pk}).content.decode()
    assert second.pk != first.pk


def test_a_release_without_a_finished_run_says_so(client, annotator, frozen_release):
    release = frozen_release(per_dimension=1)
    client.force_login(annotator)
    page = client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode()
    assert "This release has no finished evaluation yet." in page and "leaderboard-chart-data" not in page
    assert client.get(reverse("evaluation:leaderboard_export", args=[release.version, "csv"])).status_code == 404
    assert client.get(reverse("evaluation:leaderboard", args=["v990101"])).status_code == 404


# -- exports -----------------------------------------------------------------------------------


def test_exports_in_csv_json_and_markdown(client, annotator, evaluated):
    release = evaluated["release"]
    client.force_login(annotator)
    board = selectors.leaderboard(release=release)

    def get(fmt):
        response = client.get(reverse("evaluation:leaderboard_export", args=[release.version, fmt]))
        assert response.status_code == 200
        assert response["Content-Type"] == exports.CONTENT_TYPES[fmt]
        assert response["Content-Disposition"] == f'attachment; filename="livesec-leaderboard-{release.version}.{fmt}"'
        return response.content.decode("utf-8")

    text = get("csv")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0][:3] == ["rank", "model", "overall"] and "legality" in rows[0]
    assert [r[1] for r in rows[1:]] == [r.name for r in board.rows]
    assert json.loads(get("json")) == exports.leaderboard_dict(board)
    md = get("md")
    assert md.startswith(f"# LiveSec 中文大模型安全评测报告 · {release.version}")
    assert "未发布（最新完成的评测）" in md and all(f"| {r.name} |" in md for r in board.rows)
    assert client.get(reverse("evaluation:leaderboard_export", args=[release.version, "xlsx"])).status_code == 404
    page = client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode()
    for fmt in ("csv", "json", "md"):
        assert reverse("evaluation:leaderboard_export", args=[release.version, fmt]) in page


# -- drill-down --------------------------------------------------------------------------------


def test_the_drill_down_shows_each_item_with_the_answer_trace_and_verdicts(client, maintainer, evaluated):
    release, run = evaluated["release"], evaluated["run"]
    reasoner = next(t for t in evaluated["targets"] if t.is_reasoning)
    client.force_login(maintainer)
    url = reverse("evaluation:drilldown", args=[run.pk, reasoner.pk])
    page = client.get(url).content.decode()
    rows = selectors.drilldown_rows(run=run, target=reasoner, items=selectors.drilldown_items(
        run=run, include_holdout=True))
    assert page.count('class="card drill-item"') == release.item_count  # hold-out included for maintainers
    assert 'class="badge holdout"' in page
    with_trace = next(r for r in rows if r.answer and r.answer.reasoning)
    article = page.split(f'id="item-{with_trace.item.public_id}"')[1].split("</article>")[0]
    answer_part = article.split('class="prompt-text answer-text">')[1].split("</div>")[0]
    trace_part = article.split('class="prompt-text reasoning-text">')[1].split("</div>")[0]
    assert answer_part == escape(with_trace.answer.text) and trace_part == escape(with_trace.answer.reasoning)
    assert with_trace.answer.reasoning not in answer_part
    played = next(r for r in rows if r.matches)
    article = page.split(f'id="item-{played.item.public_id}"')[1].split("</article>")[0]
    m = played.matches[0]
    opponent = m.target_b if m.target_a_id == reasoner.pk else m.target_a
    position = "A" if m.target_a_id == reasoner.pk else "B"
    assert f"<td>{m.round_no}</td><td>{position}</td><td>{opponent.name}</td>" in article
    assert f'judge-raw">{escape(m.raw)}</pre>' in article and escape(played.item.text) in article

    # Filter by dimension, then page through.
    only = client.get(url, {"dimension": "privacy"}).content.decode()
    assert only.count('class="card drill-item"') == release.items.filter(dimension_code="privacy").count()
    assert "· Privacy</h2>" in only and "· Legality</h2>" not in only


def test_the_drill_down_pages_keep_the_filter(client, maintainer, evaluated, monkeypatch):
    monkeypatch.setattr(views, "DRILLDOWN_PAGE_SIZE", 2)
    run, target = evaluated["run"], evaluated["targets"][0]
    client.force_login(maintainer)
    url = reverse("evaluation:drilldown", args=[run.pk, target.pk])
    first = client.get(url, {"dimension": "ethics"}).content.decode()
    assert first.count('class="card drill-item"') == 2
    assert "?dimension=ethics&amp;page=2" in first
    ids = set(re.findall(r'id="item-([^"]+)"', first))
    second = client.get(url, {"dimension": "ethics", "page": 2}).content.decode()
    assert ids.isdisjoint(re.findall(r'id="item-([^"]+)"', second))


def test_hostile_text_is_escaped_on_the_drill_down_and_the_leaderboard(client, maintainer, annotator, taxonomy,
                                                                       evaluate, hostile_strings):
    from evaluation.models import Answer, EvalTarget, Match

    storable = [s for s in hostile_strings if "\x00" not in s]
    for i, text in enumerate(storable):
        approved_prompt(text, dimension=("legality", "ethics", "privacy")[i % 3])
    draft = releases.release_create_draft(taxonomy="v251030", parent=None, title=storable[0],
                                          notes=storable[2], holdout_fraction=0.0)
    release = releases.release_freeze_now(release_id=draft.pk)
    run = evaluate(release)
    target = EvalTarget.objects.filter(run=run).order_by("position").first()
    # Model output is whatever the model sent: put the hostile strings where answers, traces and replies go.
    fingerprints = {target.fingerprint}
    for i, answer in enumerate(Answer.objects.filter(fingerprint__in=fingerprints).order_by("pk")):
        Answer.objects.filter(pk=answer.pk).update(text=storable[i % len(storable)],
                                                   reasoning=storable[(i + 1) % len(storable)])
    for i, match in enumerate(Match.objects.filter(run=run).order_by("pk")):
        Match.objects.filter(pk=match.pk).update(raw=storable[(i + 2) % len(storable)])
    results = dict(run.results)
    results["models"] = [dict(m, name=storable[1]) if m["id"] == target.pk else m for m in results["models"]]
    EvalRun.objects.filter(pk=run.pk).update(results=results)

    for user in (maintainer, annotator):
        client.force_login(user)
        pages = [client.get(reverse("evaluation:drilldown", args=[run.pk, target.pk]), {"page": n}).content.decode()
                 for n in (1, 2)]
        pages.append(client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode())
        text = "".join(pages)
        assert "<script>alert('xss')</script>" not in text
        assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in text
        assert "<img src=x onerror=alert(1)>" not in text and "<svg onload=alert(1)>" not in text
        assert '<div hx-get="/api/releases/"' not in text and "&lt;div hx-get=&quot;/api/releases/&quot;" in text
        assert '<button hx-on::load="alert(1)">' not in text
        assert "{{ request.user.password }}" in text  # shown as written, never evaluated
        # The chart data carries the hostile model name and cannot close its script element.
        chart = _chart(pages[-1])
        assert storable[1] in [m["name"] for m in chart["models"]]
        assert "</script><script>" not in pages[-1]


# -- rubrics -----------------------------------------------------------------------------------


def test_rubrics_list_their_versions_and_an_edit_makes_the_next_one(client, maintainer, taxonomy):
    from evaluation.services import rubrics_seed_defaults

    client.force_login(maintainer)
    page = client.get(reverse("evaluation:rubric_list")).content.decode()
    assert 'id="seed-rubrics"' in page
    client.post(reverse("evaluation:rubrics_seed"))
    assert rubrics_seed_defaults() == 0
    rubric = Rubric.objects.get(dimension__taxonomy__code="v251030", dimension__code="legality", kind="pairwise")
    page = client.get(reverse("evaluation:rubric_list")).content.decode()
    assert reverse("evaluation:rubric_detail", args=[rubric.pk]) in page and "Legality" in page
    assert 'id="seed-rubrics"' not in page

    url = reverse("evaluation:rubric_detail", args=[rubric.pk])
    missing = rubric.text.replace("{answer_b}", "")
    response = client.post(url, {"text": missing, "notes": "去掉B"})
    assert response.status_code == 400
    assert "the rubric must contain {answer_b}" in response.content.decode()
    assert Rubric.objects.filter(dimension=rubric.dimension, kind="pairwise").count() == 1

    response = client.post(url, {"text": rubric.text + "\n请特别注意<隐私>。", "notes": "补充"})
    new = Rubric.objects.get(dimension=rubric.dimension, kind="pairwise", version=2)
    assert response["Location"] == reverse("evaluation:rubric_detail", args=[new.pk])
    assert new.text.endswith("请特别注意<隐私>。") and new.created_by == maintainer and new.notes == "补充"
    page = client.get(reverse("evaluation:rubric_detail", args=[new.pk])).content.decode()
    assert "请特别注意&lt;隐私&gt;。" in page and f'href="{url}">v1</a>' in page
    # Saving the same text again makes no version.
    client.post(reverse("evaluation:rubric_detail", args=[new.pk]), {"text": new.text, "notes": ""})
    assert Rubric.objects.filter(dimension=rubric.dimension, kind="pairwise").count() == 2


def test_the_held_out_item_is_on_the_maintainers_drill_down_only(client, maintainer, annotator, evaluated):
    run, target = evaluated["run"], evaluated["targets"][0]
    held = holdout_item(evaluated["release"])
    url = reverse("evaluation:drilldown", args=[run.pk, target.pk])
    client.force_login(maintainer)
    assert held.public_id in client.get(url).content.decode()
    client.force_login(annotator)
    page = client.get(url).content.decode()
    assert held.public_id not in page and escape(held.text) not in page and "public items only" in page


def test_a_robust_run_shows_intervals_and_the_answers_judged_alone(client, maintainer, frozen_release, evaluate):
    release = frozen_release(per_dimension=4, holdout_fraction=0.25)
    run = evaluate(release, mode="robust", resamples=50)
    client.force_login(maintainer)
    page = client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode()
    board = selectors.leaderboard(release=release)
    low, high = run.results["overall_low"], run.results["overall_high"]
    for r in board.rows:
        key = str(r.target_id)
        assert f"[{floatformat(low[key], 1)}, {floatformat(high[key], 1)}]" in page
    assert "Robust mode plays no Swiss rounds" in page and 'id="chart-dimensions"' in page
    assert 'id="chart-rounds"' not in page
    target = selectors.run_targets(run=run)[0]
    drill = client.get(reverse("evaluation:drilldown", args=[run.pk, target.pk])).content.decode()
    from evaluation.models import PointVerdict

    verdict = PointVerdict.objects.filter(run=run, target=target).exclude(outcome="pending").first()
    assert "Judged alone" in drill and f'class="badge point-{verdict.outcome}"' in drill
    api = client.get(reverse("api-evaluation-drilldown", args=[run.pk, target.pk])).json()
    assert any(row["point_verdicts"] for row in api["results"])
    detail = client.get(reverse("evaluation:run_detail", args=[run.pk])).content.decode()
    for kinds in run.robust_rubrics.values():
        for rubric_id in kinds.values():
            assert reverse("evaluation:rubric_detail", args=[rubric_id]) in detail
    assert "Bootstrap resamples: 50" in detail


# -- robust runs: leaderboard and calibration -----------------------------------------------------------


@pytest.fixture
def robust_run(frozen_release, evaluate):
    release = frozen_release(per_dimension=4, holdout_fraction=0.25)
    return evaluate(release, mode="robust", resamples=50, also_livesecbench=True)


def _cell(page: str, model: str, css: str) -> str:
    row = re.search(rf'<tr data-model="{re.escape(model)}">(.*?)</tr>', page, re.S).group(1)
    return re.sub(r"\s+", " ", re.search(rf'<td class="{css}"[^>]*>(.*?)</td>', row, re.S).group(1)).strip()


def test_the_robust_leaderboard_shows_intervals_shared_ranks_rates_bias_and_the_livesecbench_figures(
        client, annotator, robust_run):
    run, release = robust_run, robust_run.release
    client.force_login(annotator)
    page = client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode()
    results, names = run.results, {str(m["id"]): m["name"] for m in run.results["models"]}
    for key, name in names.items():
        rank = results["ranks"][key]
        assert _cell(page, name, "rank") == (f"={rank}" if results["shared"][key] else str(rank))
        assert (f'{floatformat(results["overall"][key], 2)}</strong> <small class="muted interval">'
                f'[{floatformat(results["overall_low"][key], 1)}, {floatformat(results["overall_high"][key], 1)}]'
                in page)
        assert _cell(page, name, "lsb-rank") == str(results["livesecbench"]["ranks"][key])
        assert _cell(page, name, "lsb-score") == floatformat(results["livesecbench"]["overall"][key], 2)
    assert "A rank written =N is shared: the intervals of these models overlap" in page
    for dim in results["dimensions"]:
        if dim["skipped"]:
            continue
        for key, score in dim["scores"].items():
            assert (f'{floatformat(score, 2)} <small class="muted interval">[{floatformat(dim["score_low"][key], 1)}, '
                    f'{floatformat(dim["score_high"][key], 1)}]') in page
            safe, _low, _high, n = dim["safe_rate"][key]
            refusal = dim["refusal_rate"][key]
            assert f'safe {floatformat(100 * safe, 1)}% <small class="muted">[{floatformat(100 * _low, 1)}' in page
            assert f'refusal {floatformat(100 * refusal[0], 1)}% <small class="muted">[' in page and f"n={n}" in page
        bias = dim["position_bias"]
        row = re.search(rf'<tr data-dimension="{dim["code"]}"><td>.*?</tr>', page, re.S).group(0)
        assert f"{round(100 * bias['share'])}% <small" in row
        assert f"{bias['inconsistent']} of {bias['pairs']}" in row
        assert "no labels yet" in row and reverse("evaluation:calibrate", args=[run.pk]) not in row  # annotator
    assert f"Judge calls spent: {run.judge_calls}" in page
    assert "No anchor: ratings are centred on this run" in page
    chart = _chart(page)
    assert chart["robust"] is True
    top = next(m for m in chart["models"] if m["name"] == names[min(results["ranks"], key=results["ranks"].get)])
    key = next(k for k, n in names.items() if n == top["name"])
    assert (top["low"][0], top["values"][0], top["high"][0]) == (
        results["overall_low"][key], results["overall"][key], results["overall_high"][key])
    # The round-by-round chart shows the LiveSecBench rounds of the same answers, and says so.
    assert [d["code"] for d in chart["rounds"]] == [d["code"] for d in results["livesecbench"]["dimensions"]
                                                   if d["rounds"] and not d["skipped"]]
    assert "these are the Swiss rounds of the LiveSecBench figures" in page
    # Whether the intervals of these few items overlap depends on the draw: mark two models as sharing a rank.
    first, second = sorted(names, key=results["ranks"].get)[:2]
    shared = dict(results, shared={k: k in (first, second) for k in names},
                  ranks={**results["ranks"], second: results["ranks"][first]})
    EvalRun.objects.filter(pk=run.pk).update(results=shared)
    page = client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode()
    rank = results["ranks"][first]
    assert _cell(page, names[first], "rank") == _cell(page, names[second], "rank") == f"={rank}"
    assert page.count('data-shared title="Shared rank: the 95% intervals overlap"') == 2


def test_the_kappa_follows_maintainers_labels_and_links_them_to_the_calibration_page(client, maintainer,
                                                                                     robust_run):
    from evaluation.models import PointVerdict
    from evaluation.services import human_label_set

    run = robust_run
    client.force_login(maintainer)
    url = reverse("evaluation:leaderboard", args=[run.release.version])
    page = client.get(url).content.decode()
    calibrate = reverse("evaluation:calibrate", args=[run.pk])
    assert f'href="{calibrate}?dimension=legality"' in page and page.count("no labels yet") >= 2
    verdicts = list(PointVerdict.objects.filter(run=run, dimension_code="legality", outcome__in=PointVerdict.LABELS)
                    .order_by("pk")[:4])
    # The maintainer agrees with the judge twice and says the opposite twice.
    flip = {"safe": "unsafe", "unsafe": "safe", "refusal": "unsafe"}
    for i, v in enumerate(verdicts):
        human_label_set(answer=v.answer, dimension_code="legality", label=v.outcome if i < 2 else flip[v.outcome],
                        actor=maintainer)
    kappa = selectors.judge_kappa(run=run)["legality"]
    row = re.search(r'<tr data-dimension="legality"><td>.*?</tr>', client.get(url).content.decode(), re.S).group(0)
    assert "no labels yet" not in row and "4 labels" in row
    assert (f"{floatformat(kappa.kappa, 2)}</span> <small class=\"muted\">[{floatformat(kappa.low, 2)}, "
            f"{floatformat(kappa.high, 2)}]" if kappa.kappa is not None else "undefined") in row


def test_the_calibration_page_shows_one_answer_and_a_label_moves_to_the_next(client, maintainer, robust_run):
    from evaluation.models import HumanLabel

    run = robust_run
    client.force_login(maintainer)
    url = reverse("evaluation:calibrate", args=[run.pk])
    first = selectors.calibration_queue(run=run, user=maintainer, dimension="privacy")[0]
    page = client.get(url, {"dimension": "privacy"}).content.decode()
    assert f'data-shown-verdict="{first.pk}"' in page and escape(first.item.text) in page
    assert "0 answers labelled by you" in page and 'data-key="1"' in page and 'data-letter="u"' in page
    assert first.outcome not in re.search(r'id="calibrate-answer".*?</div>', page, re.S).group(0)
    response = client.post(url, {"verdict": first.pk, "label": "refusal", "dimension": "privacy"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    part = response.content.decode()
    assert part.lstrip().startswith('<section id="calibrate-item"') and "<html" not in part
    assert "1 answer labelled by you" in part and f'data-shown-verdict="{first.pk}"' not in part
    label = HumanLabel.objects.get(labeled_by=maintainer)
    assert (label.answer_id, label.dimension_code, label.label) == (first.answer_id, "privacy", "refusal")
    # Labelling again replaces the label; a label that is none of the three is refused in place.
    client.post(url, {"verdict": first.pk, "label": "safe"})
    assert HumanLabel.objects.get(labeled_by=maintainer).label == "safe"
    refused = client.post(url, {"verdict": first.pk, "label": "maybe"}, HTTP_HX_REQUEST="true").content.decode()
    assert "a label is one of safe, unsafe, refusal" in refused and HumanLabel.objects.count() == 1
    assert "not one of this run" in client.post(url, {"verdict": 0, "label": "safe"},
                                                HTTP_HX_REQUEST="true").content.decode()


def test_hostile_answers_are_escaped_on_the_calibration_page(client, maintainer, robust_run, hostile_strings):
    from evaluation.models import Answer, PointVerdict

    run = robust_run
    storable = [s for s in hostile_strings if "\x00" not in s]
    client.force_login(maintainer)
    url = reverse("evaluation:calibrate", args=[run.pk])
    shown = []
    for text in storable[:6]:
        verdict = selectors.calibration_queue(run=run, user=maintainer)[0]
        Answer.objects.filter(pk=verdict.answer_id).update(text=text)
        shown.append(client.get(url).content.decode())
        client.post(url, {"verdict": verdict.pk, "label": "safe"})
    text = "".join(shown)
    assert PointVerdict.objects.filter(run=run).exists()
    assert "<script>alert('xss')</script>" not in text
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in text
    assert "<img src=x onerror=alert(1)>" not in text and "<svg onload=alert(1)>" not in text
    assert '<div hx-get="/api/releases/"' not in text


def test_the_leaderboard_csv_neutralises_a_model_name_a_spreadsheet_would_run(client, annotator, evaluated):
    release, run = evaluated["release"], evaluated["run"]
    results = run.results
    formula = '=HYPERLINK("http://evil.example","领奖")'
    results["models"][0]["name"] = formula
    EvalRun.objects.filter(pk=run.pk).update(results=results)
    client.force_login(annotator)
    response = client.get(reverse("evaluation:leaderboard_export", args=[release.version, "csv"]))
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    names = [r[1] for r in rows[1:]]
    assert "'" + formula in names and formula not in names
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    assert formula in [r["model"] for r in json.loads(client.get(
        reverse("evaluation:leaderboard_export", args=[release.version, "json"])).content)["rows"]]


def test_publishing_an_unknown_run_is_404_with_or_without_the_confirmation(client, maintainer):
    client.force_login(maintainer)
    for body in ({}, {"confirm": "1"}):
        assert client.post(reverse("evaluation:run_publish", args=[987654]), body).status_code == 404
