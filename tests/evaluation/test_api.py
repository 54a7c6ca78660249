"""Evaluation API: start a run, follow it, cancel, resume and publish it, read leaderboards and drill-downs;
clear 400s for bad input, 404 for unknown things, 409 for a run in the wrong state; the schema stays valid."""

import json

import pytest
from django.urls import reverse

from evaluation import exports, selectors
from evaluation.models import EvalRun, Rubric
from evaluation.services import run_create
from releases import services as releases
from tests.evaluation.pages_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, maintainer):
    client.force_login(maintainer)

    def call(method, name, *args, body=None, **query):
        url = reverse(name, args=args)
        if method == "get":
            return client.get(url, query)
        return client.post(url, json.dumps(body) if body is not None else "", content_type="application/json")

    return call


def test_starting_a_run_answers_201_with_the_run_as_planned(api, maintainer, frozen_release, targets, judge,
                                                            make_endpoint):
    release = frozen_release(per_dimension=2)
    make_endpoint("sim-judge-2", model="sim-judge")
    response = api("post", "api-evaluations", body={
        "release": release.version, "targets": ["sim-target-30", "sim-target-90", "sim-target-70"],
        "judge": "sim-judge", "judges": {"ethics": "sim-judge-2"}, "seed": 5, "mode": "livesecbench",
        "system_prompt": " 你是助手 ", "temperature": 0.3, "max_tokens": 256,
    })
    assert response.status_code == 201, response.content
    body = response.json()
    run = EvalRun.objects.get()
    assert body["id"] == run.pk and body["status"] == "queued" and body["mode"] == "livesecbench"
    assert [t["name"] for t in body["targets"]] == ["sim-target-30", "sim-target-90", "sim-target-70"]
    assert [t["position"] for t in body["targets"]] == [0, 1, 2]
    assert body["judge"] == "sim-judge" and body["judges"] == {"ethics": "sim-judge-2"}
    assert (body["seed"], body["system_prompt"], body["temperature"], body["max_tokens"]) == (5, " 你是助手 ", 0.3, 256)
    assert body["rubrics"]["legality"] == {"id": run.rubrics["legality"],
                                           "version": Rubric.objects.get(pk=run.rubrics["legality"]).version}
    assert body["created_by"] == maintainer.username and body["answers_total"] == 3 * release.item_count
    # Left out, the mode of a new run is robust, whatever the service's own default.
    response = api("post", "api-evaluations", body={"release": release.version, "judge": "sim-judge",
                                                    "targets": ["sim-target-30", "sim-target-90"]})
    assert response.status_code == 201 and response.json()["mode"] == "robust"
    assert EvalRun.objects.get(pk=response.json()["id"]).mode == "robust"


@pytest.mark.parametrize("change, message", [
    # Refusals come in the site's language (Chinese by default).
    ({"release": "v990101"}, "没有版本 'v990101'"),
    ({"targets": ["sim-target-90", "no-such"]}, "没有名为 'no-such' 的模型接入"),
    ({"judge": "nobody"}, "没有名为 'nobody' 的模型接入"),
    ({"targets": ["sim-target-90"]}, "请至少选择两个被测模型"),
    ({"temperature": 3}, "温度必须在 0 到 2 之间"),
    ({"judges": {"factuality": "sim-judge"}}, "为版本中没有的维度指定了裁判模型：factuality"),
    # Field errors: the field named is what matters.
    ({"mode": "elo-only"}, '{"mode": ["“elo-only”'),
    ({"mode": "robust", "budget": 1}, '{"budget": ["'),
    ({"mode": "robust", "resamples": 0}, '{"resamples": ["'),
    ({"mode": "robust", "resamples": 20_000}, '{"resamples": ["'),
    ({"mode": "robust", "anchor_rating": "high"}, '{"anchor_rating": ["'),
    ({"mode": "robust", "anchor": "sim-target-10"}, "锚定模型 'sim-target-10' 不在被测模型之中"),
    ({"system_prompt": "a\u0000b"}, '{"system_prompt": ['),
    # Beyond what the columns hold: the driver overflowed, or PostgreSQL refused the row (500s).
    ({"seed": 2**63}, '{"seed": ["'),
    ({"mode": "robust", "budget": 2**31}, '{"budget": ["'),
])
def test_bad_input_is_refused_with_the_reason_and_nothing_is_written(api, frozen_release, targets, judge, change,
                                                                     message):
    release = frozen_release(per_dimension=2)
    body = {"release": release.version, "targets": ["sim-target-90", "sim-target-50"], "judge": "sim-judge",
            "mode": "livesecbench", **change}
    response = api("post", "api-evaluations", body=body)
    assert response.status_code == 400
    assert message in json.dumps(response.json(), ensure_ascii=False)
    assert not EvalRun.objects.exists()


def test_missing_fields_and_a_draft_release_are_refused(api, client, taxonomy, frozen_release, targets, judge):
    response = api("post", "api-evaluations", body={"release": "v251030"})
    assert response.status_code == 400 and set(response.json()) == {"targets", "judge"}
    frozen_release(per_dimension=1)
    draft = releases.release_create_draft(taxonomy="v251030", parent=None)
    response = api("post", "api-evaluations", body={"release": draft.version, "judge": "sim-judge",
                                                    "targets": ["sim-target-90", "sim-target-50"]})
    assert response.status_code == 400 and response.json()["detail"] == (
        f"版本 {draft.version} 尚未冻结：只评测已冻结的版本")
    client.cookies["django_language"] = "en"
    response = api("post", "api-evaluations", body={"release": draft.version, "judge": "sim-judge",
                                                    "targets": ["sim-target-90", "sim-target-50"]})
    assert response.json()["detail"] == f"release {draft.version} is not frozen: only frozen releases are evaluated"


def test_the_run_list_and_detail_show_status_counters_and_results(api, evaluated, targets, judge):
    run = evaluated["run"]
    queued = run_create(release=evaluated["release"], targets=targets[:2], judge=judge, enqueue=False,
                        mode="livesecbench")
    listing = api("get", "api-evaluations").json()
    assert listing["count"] == 2 and [r["id"] for r in listing["results"]] == [queued.pk, run.pk]
    assert "results" not in listing["results"][0]
    body = api("get", "api-evaluation-detail", run.pk).json()
    fresh = EvalRun.objects.get(pk=run.pk)
    for field in ("answers_done", "answers_total", "matches_done", "matches_total", "target_calls", "judge_calls",
                  "prompt_tokens", "completion_tokens", "answers_reused", "verdicts_reused", "errors"):
        assert body[field] == getattr(fresh, field), field
    assert (body["status"], body["phase"], body["percent"]) == ("succeeded", "done", 100)
    assert body["results"] == fresh.results and body["results"]["ranks"]
    assert api("get", "api-evaluation-detail", 999999).status_code == 404


def test_cancel_resume_publish_and_unpublish_answer_409_in_the_wrong_state(api, client, evaluated, targets, judge):
    run = evaluated["run"]
    queued = run_create(release=evaluated["release"], targets=targets[:2], judge=judge, enqueue=False,
                        mode="livesecbench")
    response = api("post", "api-evaluation-publish", queued.pk)
    assert response.status_code == 409 and response.json()["detail"] == "只有已完成的评测可以发布"  # the default language
    client.cookies["django_language"] = "en"
    response = api("post", "api-evaluation-publish", queued.pk)
    assert response.status_code == 409 and response.json()["detail"] == "only a finished evaluation can be published"
    assert api("post", "api-evaluation-cancel", queued.pk).json()["status"] == "cancelled"
    response = api("post", "api-evaluation-cancel", queued.pk)
    assert response.status_code == 409 and "only a queued or running evaluation" in response.json()["detail"]
    assert api("post", "api-evaluation-resume", queued.pk).json()["status"] == "queued"
    response = api("post", "api-evaluation-resume", run.pk)
    assert response.status_code == 409 and "nothing to resume" in response.json()["detail"]

    assert api("post", "api-evaluation-publish", run.pk).json()["published"] is True
    board = api("get", "api-leaderboard", evaluated["release"].version).json()
    assert board["published"] is True and board["run"] == run.pk
    assert api("post", "api-evaluation-unpublish", run.pk).json()["published"] is False
    assert api("post", "api-evaluation-cancel", 999999).status_code == 404


def test_the_leaderboard_is_the_export_json(api, annotator, client, evaluated, frozen_release):
    release = evaluated["release"]
    client.force_login(annotator)
    response = client.get(reverse("api-leaderboard", args=[release.version]))
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(exports.leaderboard_dict(selectors.leaderboard(release=release))))
    assert response.json()["published"] is False and len(response.json()["rows"]) == 3
    empty = frozen_release(per_dimension=1)
    body = client.get(reverse("api-leaderboard", args=[empty.version])).json()
    assert body["run"] is None and body["rows"] == [] and body["release"] == empty.version
    assert client.get(reverse("api-leaderboard", args=["v990101"])).status_code == 404


def test_the_drill_down_pages_items_with_answers_and_verdicts(api, evaluated):
    run, release = evaluated["run"], evaluated["release"]
    reasoner = next(t for t in evaluated["targets"] if t.is_reasoning)
    first = api("get", "api-evaluation-drilldown", run.pk, reasoner.pk, page_size=5).json()
    assert first["count"] == release.item_count and len(first["results"]) == 5 and first["model"] == reasoner.name
    assert "page=2" in first["next"] and first["previous"] is None
    seen = []
    for page in range(1, (release.item_count + 4) // 5 + 1):
        seen += api("get", "api-evaluation-drilldown", run.pk, reasoner.pk, page_size=5, page=page).json()["results"]
    assert len({r["public_id"] for r in seen}) == release.item_count
    rows = {r.item.public_id: r for r in selectors.drilldown_rows(
        run=run, target=reasoner, items=selectors.drilldown_items(run=run, include_holdout=True))}
    for out in seen:
        row = rows[out["public_id"]]
        assert out["text"] == row.item.text and out["holdout"] == row.item.is_holdout
        assert out["answer"]["text"] == row.answer.text and out["answer"]["reasoning"] == row.answer.reasoning
        assert [v["raw"] for v in out["verdicts"]] == [m.raw for m in row.matches]
        for v, m in zip(out["verdicts"], row.matches, strict=True):
            mine = "A" if m.target_a_id == reasoner.pk else "B"
            assert v["position"] == mine and v["round"] == m.round_no and v["dimension"] == m.dimension_code
            assert v["opponent"] == (m.target_b if mine == "A" else m.target_a).name
            if m.outcome in ("A", "B"):
                assert v["result"] == ("win" if m.outcome == mine else "loss")
    assert any(out["answer"]["reasoning"] for out in seen)  # the reasoner's traces, kept apart from the answers
    ethics = api("get", "api-evaluation-drilldown", run.pk, reasoner.pk, dimension="ethics").json()
    assert ethics["count"] == release.items.filter(dimension_code="ethics").count()
    assert {r["dimension"] for r in ethics["results"]} == {"ethics"}
    response = api("get", "api-evaluation-drilldown", run.pk, reasoner.pk, dimension="nope")
    assert response.status_code == 400 and "dimension 'nope' is not in this run" in response.json()["detail"]
    assert api("get", "api-evaluation-drilldown", run.pk, 999999).status_code == 404
    assert api("get", "api-evaluation-drilldown", 999999, reasoner.pk).status_code == 404


def test_the_schema_documents_the_evaluation_api_and_stays_valid(client, maintainer):
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    client.force_login(maintainer)
    response = client.get(reverse("schema"), {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/evaluations/", "/api/evaluations/{id}/", "/api/evaluations/{id}/cancel/",
                 "/api/evaluations/{id}/resume/", "/api/evaluations/{id}/publish/",
                 "/api/evaluations/{id}/models/{target_id}/items/", "/api/leaderboards/{version}/"):
        assert path in paths, path
    assert "post" in paths["/api/evaluations/"] and "get" in paths["/api/evaluations/"]
    schemas = response.json()["components"]["schemas"]
    assert {"EvalRunInput", "EvalRunDetailOutput", "LeaderboardOutput", "DrillPageOutput"} <= set(schemas)
    validate_schema(SchemaGenerator().get_schema(request=None, public=True))
