"""The agreement dashboard, its API and CSV downloads, and per-item agreement, on database data."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
import random
import re

import krippendorff
import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotation import agreement as ag
from annotation import agreement_report as report
from annotation import agreement_selectors as selectors
from annotation.models import Annotation
from curation.models import Dimension, Prompt
from tests.annotation.agreement_factories import (
    ReviewQueueFactory,
    annotate,
    decide,
    play_round,
    taxonomy_dimensions,
)
from tests.factories import PromptFactory, UserFactory

pytestmark = pytest.mark.django_db

FIELDS = list(report.FIELDS)


# --------------------------------------------------------------------------- data


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # PBKDF2 costs over a second per user on the CI machine; these tests never check a password.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def review_data(taxonomy):
    """Two queues: A (3 annotators, 4 weeks, decent agreement) and B (2 of them + a newcomer, noisy)."""
    rng = random.Random(20251030)
    a1, a2, a3, a4 = (UserFactory(username=f"标注员{i}", role="Annotator") for i in range(1, 5))
    queue_a = ReviewQueueFactory(name="合法性队列")
    queue_b = ReviewQueueFactory(name="伦理性队列")
    dims = taxonomy_dimensions()
    prompts_a = [PromptFactory(dimension=dims[i % 2]) for i in range(36)]
    prompts_b = [PromptFactory(dimension=dims[2]) for _ in range(18)]
    truths = play_round(queue_a, prompts_a, [a1, a2, a3], rng=rng, noise=0.15, weeks=(0, 1, 2, 3))
    truths |= play_round(queue_b, prompts_b, [a1, a2, a4], rng=rng, noise=0.5, weeks=(0, 5), surplus_from=2)
    for i, prompt in enumerate(prompts_a[:24] + prompts_b[:8]):
        decide(prompt, truths[prompt.pk], "adjudicated" if i % 3 == 0 else "consensus")
    return {
        "annotators": [a1, a2, a3, a4], "queues": (queue_a, queue_b), "prompts": (prompts_a, prompts_b),
        "truths": truths,
    }


# --------------------------------------------------------------------------- independent frames


def independent_frames(annotation_qs=None):
    """Frames built row by row from the ORM, independently of the selectors' code."""
    qs = annotation_qs if annotation_qs is not None else Annotation.objects.all()
    rows = {f: [] for f in FIELDS}
    for a in qs.order_by("pk"):
        keep = a.decision in ("accept", "edit")
        rows["decision"].append((a.prompt_id, a.annotator_id, "keep" if keep else "reject"))
        if not keep:
            continue
        if a.dimension_id is not None:
            rows["dimension"].append((a.prompt_id, a.annotator_id, a.dimension_id))
        if a.risk_expression:
            rows["risk_expression"].append((a.prompt_id, a.annotator_id, a.risk_expression))
        if a.severity is not None:
            rows["severity"].append((a.prompt_id, a.annotator_id, a.severity))
        if a.expected_behaviour:
            rows["expected_behaviour"].append((a.prompt_id, a.annotator_id, a.expected_behaviour))
    frames = {f: pd.DataFrame(r, columns=["item", "annotator", "value"]) for f, r in rows.items()}
    item_ids = set(qs.values_list("prompt_id", flat=True))
    finals = {f: {} for f in FIELDS}
    for p in Prompt.objects.filter(pk__in=item_ids, status__in=["approved", "rejected"]):
        finals["decision"][p.pk] = "keep" if p.status == "approved" else "reject"
        if p.status == "approved":
            finals["dimension"][p.pk] = p.dimension_id
            finals["risk_expression"][p.pk] = p.risk_expression or None
            finals["severity"][p.pk] = p.severity
            finals["expected_behaviour"][p.pk] = p.expected_behaviour or None
    return frames, {f: pd.Series(v, dtype=object) for f, v in finals.items()}


def close(a, b, tol=1e-9):
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None and (b is None or math.isnan(b))
    return abs(a - b) <= tol


# --------------------------------------------------------------------------- access


def test_anonymous_users_go_to_login_or_get_401(client):
    for name in ("agreement:dashboard", "agreement:export_matrix", "agreement:export_metrics"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
    assert client.get(reverse("api-agreement")).status_code == 401


@pytest.mark.parametrize("role,status", [("Annotator", 403), ("Maintainer", 200), ("Admin", 200)])
def test_pages_and_api_answer_by_role(client, taxonomy, role, status):
    client.force_login(UserFactory(username=f"u-{role}", role=role))
    for name in ("agreement:dashboard", "agreement:export_matrix", "agreement:export_metrics", "api-agreement"):
        assert client.get(reverse(name)).status_code == status, name


def test_user_without_a_role_is_refused(client, taxonomy):
    client.force_login(UserFactory(username="norole"))
    assert client.get(reverse("agreement:dashboard")).status_code == 403
    assert client.get(reverse("api-agreement")).status_code == 403


def test_navigation_links_the_dashboard_for_maintainers_only(client, annotator, maintainer):
    client.force_login(annotator)
    assert reverse("agreement:dashboard") not in client.get(reverse("home")).content.decode()
    client.force_login(maintainer)
    assert reverse("agreement:dashboard") in client.get(reverse("home")).content.decode()


# --------------------------------------------------------------------------- dashboard page


@pytest.mark.parametrize("who", ["admin", "maintainer"])
def test_dashboard_renders_with_the_demo_data(client, settings, who):
    settings.DEBUG = True
    call_command("seed_demo")
    from django.contrib.auth import get_user_model

    User = get_user_model()
    users = [User.objects.get(username=f"annotator{i}") for i in (1, 2, 3)]
    queue = ReviewQueueFactory(name="演示队列")
    # The demo release has already approved a few items; review the ones still open.
    prompts = list(Prompt.objects.exclude(status__in=["approved", "rejected"]).order_by("pk")[:12])
    assert len(prompts) == 12
    truths = play_round(queue, prompts, users, rng=random.Random(3), noise=0.2, weeks=(0, 1, 2))
    for prompt in prompts[:10]:
        decide(prompt, truths[prompt.pk], "consensus")

    client.force_login(User.objects.get(username=who))
    response = client.get(reverse("agreement:dashboard"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "标注一致性看板" in page and "各字段一致性" in page  # Chinese by default
    assert 'id="agreement-weekly"' in page and 'id="agreement-weekly-data"' in page
    for user in users:
        assert user.username in page  # heat map and annotator table
    data = selectors.agreement_dashboard(filters=selectors.AgreementFilters())
    decision = data["fields"][0]
    assert decision["field"] == "decision" and decision["alpha"]["n_items"] == len(prompts)
    assert f"{decision['alpha']['value']:.3f}" in page
    assert f"n = {decision['alpha']['n_items']}" in page
    assert "chart-4.6.1.umd.min.js" in page and "//cdn" not in page


def test_dashboard_shows_every_field_with_band_ci_and_n(client, admin, review_data):
    page = client_page(client, admin)
    data = selectors.agreement_dashboard(filters=selectors.AgreementFilters())
    for summary in data["fields"]:
        alpha = summary["alpha"]
        assert f'data-field="{summary["field"]}"' in page
        if alpha["value"] is not None:
            assert f"α = {alpha['value']:.3f}" in page
            lo, hi = summary["alpha_ci"]["lo"], summary["alpha_ci"]["hi"]
            assert f"[{lo:.3f}, {hi:.3f}]" in page
    bands = {"good": "良好", "tentative": "待定", "poor": "较差"}
    shown = {s["alpha"]["band"] for s in data["fields"] if s["alpha"]["value"] is not None}
    for band in shown:
        assert f"band-{band}" in page and bands[band] in page


def client_page(client, user, **params) -> str:
    client.force_login(user)
    response = client.get(reverse("agreement:dashboard"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_empty_database_renders_and_api_returns_nulls_with_n_zero(client, admin, taxonomy):
    page = client_page(client, admin)
    assert "暂无标注" in page
    body = client.get(reverse("api-agreement")).json()
    assert body["totals"]["n_annotations"] == 0
    for summary in body["fields"]:
        assert summary["alpha"]["value"] is None and summary["alpha"]["n_items"] == 0
        assert summary["alpha_ci"]["lo"] is None
    assert body["kappa"]["annotators"] == [] and body["annotators"] == [] and body["disagreed"] == []


def test_htmx_filter_request_returns_only_the_results_fragment(client, admin, review_data):
    client.force_login(admin)
    queue_b = review_data["queues"][1]
    response = client.get(reverse("agreement:dashboard"), {"queue": queue_b.pk}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="agreement-results">') and "<html" not in body
    assert 'id="agreement-weekly-data"' in body


def test_bad_filters_show_a_clear_error_and_compute_nothing(client, admin, review_data):
    page = client_page(client, admin, since="2025-03-02", until="2025-03-01")
    assert "开始日期晚于结束日期" in page and 'id="agreement-totals"' not in page
    client.force_login(admin)
    api = client.get(reverse("api-agreement"), {"since": "2025-03-02", "until": "2025-03-01"})
    assert api.status_code == 400 and "until" in api.json()
    assert client.get(reverse("api-agreement"), {"field": "colour"}).status_code == 400
    assert client.get(reverse("api-agreement"), {"queue": 999999}).status_code == 400
    assert client.get(reverse("api-agreement"), {"dimension": "no-such"}).status_code == 400
    assert client.get(reverse("api-agreement"), {"annotator": "nobody"}).status_code == 400
    assert client.get(reverse("api-agreement"), {"min_shared": 0}).status_code == 400
    assert client.get(reverse("agreement:export_matrix"), {"since": "yesterday"}).status_code == 400


def test_hostile_strings_in_disagreed_items_and_names_render_escaped(client, admin, taxonomy, hostile_strings):
    queue = ReviewQueueFactory(name="<b>队列</b>")
    a1 = UserFactory(username="<script>alert('xss')</script>", role="Annotator")
    a2 = UserFactory(username="=HYPERLINK(\"http://x\")", role="Annotator")
    stored = []
    for text in hostile_strings:
        if "\x00" in text:
            continue  # curation refuses NUL at intake; such a prompt cannot exist
        prompt = PromptFactory(text=text)
        stored.append(prompt)
        annotate(prompt, a1, queue, decision="accept")
        annotate(prompt, a2, queue, decision="reject")
    for prompt in stored:
        assert Prompt.objects.get(pk=prompt.pk).text == prompt.text  # stored intact
    page = client_page(client, admin, **{"queue": queue.pk})
    # Short enough not to be truncated: shown, escaped, never raw.
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in page
    assert "<script>alert('xss')</script>" not in page
    assert "<img src=x onerror=alert(1)>" not in page and "<svg onload=alert(1)>" not in page
    assert '<div hx-get="/api/releases/"' not in page and '<button hx-on::load' not in page
    assert "{{ request.user.password }}" in page  # template syntax in data is shown, not evaluated
    response = client.get(reverse("api-agreement"), {"queue": queue.pk, "top": 100})
    texts = {d["text"] for d in response.json()["disagreed"]}
    assert texts == {p.text for p in stored}  # the API returns the text intact (JSON-escaped)
    matrix = client.get(reverse("agreement:export_matrix"), {"queue": queue.pk}).content.decode("utf-8-sig")
    assert "'=HYPERLINK" in matrix  # a name that looks like a formula is neutralised in the CSV


# --------------------------------------------------------------------------- numbers


def test_api_numbers_equal_the_pure_functions_on_independent_frames(client, maintainer, review_data):
    client.force_login(maintainer)
    frames, finals = independent_frames()
    for field in FIELDS:
        body = client.get(reverse("api-agreement"), {"field": field, "min_shared": 5}).json()
        spec = report.FIELDS[field]
        by_field = {s["field"]: s for s in body["fields"]}
        for name in FIELDS:
            f = report.FIELDS[name]
            s = by_field[name]
            df = frames[name]
            assert close(s["alpha"]["value"], ag.krippendorff_alpha(df, f.level, order=f.order))
            lo, hi = ag.bootstrap_alpha_ci(df, f.level, n_boot=1000, seed=0, order=f.order)
            assert close(s["alpha_ci"]["lo"], lo) and close(s["alpha_ci"]["hi"], hi)
            fleiss = ag.fleiss_kappa(df)
            assert close(s["fleiss_kappa"]["value"], fleiss) if fleiss is not None else s["fleiss_kappa"]["value"] is None
            assert close(s["percent_agreement"]["value"], ag.percent_agreement(df))
            pairable = df.groupby("item").size()
            assert s["alpha"]["n_items"] == int((pairable >= 2).sum())
            assert s["percent_agreement"]["n_pairs"] == int((pairable * (pairable - 1) // 2).sum())
        df = frames[field]
        kappa, shared = ag.cohen_kappa_matrix(df, min_shared=5)
        assert body["kappa"]["annotators"] == list(kappa.index)
        assert body["kappa"]["n"] == shared.to_numpy().tolist()
        for i, j in itertools.product(range(len(kappa)), repeat=2):
            assert close(body["kappa"]["kappa"][i][j], kappa.iat[i, j])
        with_final = ag.agreement_with_final(df, finals[field])
        for row in body["annotators"]:
            expected = with_final.loc[row["annotator"]]
            assert row["with_final"]["n"] == expected["n"] and row["with_final"]["n_agree"] == expected["n_agree"]
            assert close(row["with_final"]["share"], expected["share"])
        assert spec.name == body["field"]


def test_decision_alpha_matches_the_krippendorff_package(client, maintainer, review_data):
    """The reference implementation on a reliability matrix built straight from the table."""
    client.force_login(maintainer)
    body = client.get(reverse("api-agreement")).json()
    annotators = sorted({a.pk for a in review_data["annotators"]})
    items = sorted(Annotation.objects.values_list("prompt_id", flat=True).distinct())
    matrix = np.full((len(annotators), len(items)), np.nan)
    for prompt_id, annotator_id, decision in Annotation.objects.values_list("prompt_id", "annotator_id", "decision"):
        matrix[annotators.index(annotator_id), items.index(prompt_id)] = 0.0 if decision == "reject" else 1.0
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    assert body["fields"][0]["alpha"]["value"] == pytest.approx(expected, abs=1e-9)


def test_rejecting_annotations_do_not_count_for_labels_and_surplus_counts(taxonomy):
    queue = ReviewQueueFactory()
    a, b, c = (UserFactory(username=n, role="Annotator") for n in "abc")
    dim = taxonomy_dimensions()[0]
    p1, p2 = PromptFactory(), PromptFactory()
    annotate(p1, a, queue, decision="accept", severity=3, dimension=dim)
    annotate(p1, b, queue, decision="reject", severity=5, dimension=dim)  # labels of a rejection: ignored
    annotate(p2, a, queue, decision="edit", severity=2)
    annotate(p2, b, queue, decision="accept", severity=2)
    annotate(p2, c, queue, decision="accept", severity=4, is_surplus=True)
    data = selectors.agreement_dashboard(filters=selectors.AgreementFilters(), n_boot=10)
    by_field = {s["field"]: s for s in data["fields"]}
    assert by_field["decision"]["alpha"]["n_items"] == 2 and by_field["decision"]["n_annotations"] == 5
    assert by_field["severity"]["alpha"]["n_items"] == 1  # only p2 has two kept severities
    assert by_field["severity"]["n_annotations_pairable"] == 3  # the surplus annotation is in
    assert by_field["dimension"]["alpha"]["n_items"] == 0 and by_field["dimension"]["alpha"]["value"] is None
    assert data["totals"]["n_surplus"] == 1
    assert by_field["decision"]["percent_agreement"]["value"] == pytest.approx((0 + 1) / 2)


def test_filters_change_the_numbers(client, admin, review_data):
    client.force_login(admin)
    queue_a, queue_b = review_data["queues"]
    a1, a2, a3, a4 = review_data["annotators"]

    def api(**params):
        response = client.get(reverse("api-agreement"), params)
        assert response.status_code == 200, response.content
        return response.json()

    everything = api()
    assert everything["totals"]["n_items"] == 54 and everything["totals"]["n_annotators"] == 4
    only_a, only_b = api(queue=queue_a.pk), api(queue=queue_b.pk)
    assert only_a["totals"]["n_items"] == 36 and only_b["totals"]["n_items"] == 18
    assert only_a["fields"][0]["alpha"]["value"] != everything["fields"][0]["alpha"]["value"]
    frames_b, _ = independent_frames(Annotation.objects.filter(queue=queue_b))
    assert close(only_b["fields"][0]["alpha"]["value"], ag.krippendorff_alpha(frames_b["decision"]))
    assert {r["username"] for r in only_b["annotators"]} == {a1.username, a2.username, a4.username}

    dim = taxonomy_dimensions()[2]
    by_dim = api(dimension=dim.code)
    assert by_dim["totals"]["n_items"] == Prompt.objects.filter(dimension=dim, annotations__isnull=False).distinct().count()
    assert api(dimension=str(dim.pk))["totals"] == by_dim["totals"]

    newcomer = api(annotator=a4.username)
    assert newcomer["totals"]["n_items"] == 18  # a4 only worked in queue B, and everyone's annotations there count
    assert api(annotator=str(a3.pk))["totals"]["n_items"] == 36

    today = timezone.localdate()
    recent = api(since=(today - dt.timedelta(days=6)).isoformat(), until=today.isoformat())
    expected_recent = {p.pk for p in review_data["prompts"][0][0::4]} | {p.pk for p in review_data["prompts"][1][0::2]}
    assert recent["totals"]["n_items"] == len(expected_recent)
    old = api(until=(today - dt.timedelta(weeks=4)).isoformat())
    assert old["totals"]["n_items"] == 9  # queue B's items from five weeks ago

    severity = api(field="severity", min_shared=5)
    assert severity["field"] == "severity" and severity["kappa"] != api(min_shared=5)["kappa"]
    assert api(min_shared=1000)["kappa"]["n_pairs"] == 0

    # The page follows the same filters.
    page = client.get(reverse("agreement:dashboard"), {"queue": queue_b.pk}).content.decode()
    assert f"{only_b['fields'][0]['alpha']['value']:.3f}" in page


def test_weekly_alpha_counts_items_in_the_week_of_their_latest_annotation(client, admin, review_data):
    client.force_login(admin)
    body = client.get(reverse("api-agreement"), {"queue": review_data["queues"][0].pk}).json()
    weekly = body["weekly"]
    assert len(weekly["weeks"]) == 4 and weekly["weeks"] == sorted(weekly["weeks"])
    for week in weekly["weeks"]:
        assert dt.date.fromisoformat(week).weekday() == 0  # weeks start on Monday
    assert sum(weekly["fields"]["decision"]["n_items"]) == 36
    assert weekly["fields"]["decision"]["n_items"] == [9, 9, 9, 9]
    frames, _ = independent_frames(Annotation.objects.filter(queue=review_data["queues"][0]))
    prompts = review_data["prompts"][0]
    for position, weeks_back in enumerate((3, 2, 1, 0)):  # oldest week first
        items = {p.pk for i, p in enumerate(prompts) if i % 4 == weeks_back}
        for field in FIELDS:
            spec, df = report.FIELDS[field], frames[field]
            part = df[df["item"].isin(items)]
            expected = ag.krippendorff_alpha(part, spec.level, order=spec.order)
            assert close(weekly["fields"][field]["alpha"][position], expected), (field, position)
            pairable = part.groupby("item").size()
            assert weekly["fields"][field]["n_items"][position] == int((pairable >= 2).sum())


def test_per_annotator_table(client, admin, review_data):
    client.force_login(admin)
    body = client.get(reverse("api-agreement")).json()
    rows = {r["username"]: r for r in body["annotators"]}
    for user in review_data["annotators"]:
        mine = Annotation.objects.filter(annotator=user)
        row = rows[user.username]
        assert row["n_annotations"] == mine.count()
        assert row["median_seconds"] == pytest.approx(float(np.median(list(mine.values_list("seconds_spent", flat=True)))))
        assert row["rejection_rate"]["n_rejected"] == mine.filter(decision="reject").count()
        assert row["rejection_rate"]["share"] == pytest.approx(row["rejection_rate"]["n_rejected"] / mine.count())
        assert row["with_final_adjudicated"]["n"] + row["with_final_consensus"]["n"] == row["with_final"]["n"]
    assert rows["标注员4"]["n_surplus"] == 18 and rows["标注员1"]["n_surplus"] == 0
    # agreement with the others: brute force over pairs
    frames, _ = independent_frames()
    df = frames["decision"]
    for user in review_data["annotators"]:
        agree = pairs = 0
        for _, group in df.groupby("item"):
            if len(group) < 2 or user.pk not in set(group["annotator"]):
                continue
            mine = group[group["annotator"] == user.pk]["value"].iloc[0]
            others = group[group["annotator"] != user.pk]["value"]
            pairs += len(others)
            agree += int((others == mine).sum())
        assert rows[user.username]["with_others"]["n_pairs"] == pairs
        assert rows[user.username]["with_others"]["share"] == pytest.approx(agree / pairs)


def test_most_disagreed_items_come_first_and_link_to_their_adjudication(client, admin, review_data):
    client.force_login(admin)
    body = client.get(reverse("api-agreement"), {"top": 5}).json()
    assert 0 < len(body["disagreed"]) <= 5 and body["n_disagreed"] >= len(body["disagreed"])
    shares = [d["agreement"] for d in body["disagreed"]]
    assert shares == sorted(shares) and all(s < 1 for s in shares)
    for d in body["disagreed"]:
        assert sum(v["count"] for v in d["values"]) == d["n_annotations"] >= 2
    page = client.get(reverse("agreement:dashboard")).content.decode()
    first = body["disagreed"][0]["item"]
    assert reverse("annotation:adjudication_for_prompt", args=[first]) in page


def test_dashboard_reads_in_a_fixed_number_of_queries(review_data):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            selectors.agreement_dashboard(filters=selectors.AgreementFilters(), n_boot=10)
        return len(ctx.captured_queries)

    before = count()
    queue = review_data["queues"][0]
    more = [PromptFactory() for _ in range(15)]
    play_round(queue, more, review_data["annotators"][:3], rng=random.Random(1), noise=0.3)
    assert count() == before <= 6


# --------------------------------------------------------------------------- CSV


def test_csv_exports_have_a_bom_and_parse_back_with_pandas(client, admin, review_data):
    client.force_login(admin)
    response = client.get(reverse("agreement:export_matrix"), {"field": "severity"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    matrix = pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig")
    names = [u.username for u in review_data["annotators"]]
    assert list(matrix.columns) == ["prompt_id", *names, "final", "agreement", "n_annotations"]
    assert len(matrix) == 54
    lookup = matrix.set_index("prompt_id")
    for a in Annotation.objects.select_related("annotator"):
        cell = lookup.at[a.prompt_id, a.annotator.username]
        if a.decision == "reject" or a.severity is None:
            assert pd.isna(cell)
        else:
            assert cell == a.severity
    scores = ag.per_item_agreement(independent_frames()[0]["severity"])
    for item, score in scores.items():
        assert lookup.at[item, "agreement"] == pytest.approx(score)

    response = client.get(reverse("agreement:export_metrics"), {"queue": review_data["queues"][0].pk})
    assert response.content.startswith(b"\xef\xbb\xbf")
    metrics = pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig")
    body = client.get(reverse("api-agreement"), {"queue": review_data["queues"][0].pk}).json()
    alpha = metrics[(metrics["section"] == "headline") & (metrics["metric"] == "krippendorff_alpha")]
    assert list(alpha["field"]) == FIELDS
    for s, (_, row) in zip(body["fields"], alpha.iterrows(), strict=True):
        assert row["value"] == pytest.approx(s["alpha"]["value"]) and row["n"] == s["alpha"]["n_items"]
        assert row["ci_low"] == pytest.approx(s["alpha_ci"]["lo"]) and row["band"] == s["alpha"]["band"]
    pairs = metrics[metrics["section"] == "cohen_kappa"]
    assert set(pairs["annotator"]) | set(pairs["other_annotator"]) == {"标注员1", "标注员2", "标注员3"}
    assert (metrics["n"].notna()).all()  # every figure carries its n


def test_dimension_matrix_uses_codes(client, admin, review_data):
    client.force_login(admin)
    response = client.get(reverse("agreement:export_matrix"), {"field": "dimension"})
    matrix = pd.read_csv(io.BytesIO(response.content), encoding="utf-8-sig")
    codes = set(Dimension.objects.values_list("code", flat=True))
    values = set(matrix[[u.username for u in review_data["annotators"]]].stack().dropna())
    assert values and values <= codes


# --------------------------------------------------------------------------- per-item agreement


def test_per_item_scores_for_releases(review_data):
    prompts = review_data["prompts"][0][:10]
    ids = [p.pk for p in prompts]
    scores = selectors.prompt_agreement_scores(prompt_ids=ids)
    frames, _ = independent_frames(Annotation.objects.filter(prompt_id__in=ids))
    for pk in ids:
        per_field = []
        for field in FIELDS:
            df = frames[field]
            values = list(df[df["item"] == pk]["value"])
            if len(values) >= 2:
                pairs = list(itertools.combinations(values, 2))
                per_field.append(sum(x == y for x, y in pairs) / len(pairs))
        assert scores[pk] == pytest.approx(sum(per_field) / len(per_field))

    lonely = PromptFactory()  # no annotations: no score, never held back
    Prompt.objects.filter(pk=ids[0]).update(agreement=0.99)  # the stored value wins
    Prompt.objects.filter(pk=ids[1]).update(agreement=0.01)
    threshold = 0.6
    kept = selectors.prompts_meeting_min_agreement(prompt_ids=[*ids, lonely.pk], minimum=threshold)
    expected = {pk for pk in ids[2:] if scores[pk] >= threshold} | {ids[0], lonely.pk}
    assert set(kept) == expected


def test_id_lists_longer_than_a_query_may_carry(review_data):
    """A release may pass 100k prompt ids; PostgreSQL takes at most 65535 parameters per query."""
    real = [p.pk for p in review_data["prompts"][0][:5]]
    ids = real + list(range(10_000_000, 10_070_000))
    scores = selectors.prompt_agreement_scores(prompt_ids=ids)
    assert set(scores) == set(real)
    assert set(selectors.prompts_meeting_min_agreement(prompt_ids=ids, minimum=0.0)) == set(real)


def test_agreement_summary_for_a_set_of_prompts(review_data):
    ids = [p.pk for p in review_data["prompts"][0]]
    summary = selectors.agreement_summary(prompt_ids=ids, n_boot=50)
    frames, _ = independent_frames(Annotation.objects.filter(prompt_id__in=ids))
    assert [s["field"] for s in summary] == FIELDS
    assert close(summary[0]["alpha"]["value"], ag.krippendorff_alpha(frames["decision"]))


RESOLUTION_CASES = [
    ({}, "unknown"),
    ({"adjudicated": True}, "adjudicated"),
    ({"adjudicated": False, "rule": "unanimous"}, "consensus"),
    ({"method": "Adjudication"}, "adjudicated"),
    ({"decided_by": "maintainer adjudication", "votes": {"keep": 2}}, "adjudicated"),
    ({"adjudicator": 4, "reason": "…"}, "adjudicated"),
    ({"adjudicator_id": None, "rule": "majority_labels"}, "consensus"),
    ({"adjudicated_by": "", "outcome": "consensus"}, "consensus"),
    ({"votes": [1, 2]}, "consensus"),
    # The shapes annotation.services.review_summary writes:
    ({"rule": "unanimous", "outcome": "approved", "decided_by": "consensus", "counts": {"accept": 3},
      "annotations": [{"annotator": "a", "decision": "accept"}]}, "consensus"),
    ({"rule": "unanimous", "outcome": "rejected", "decided_by": "adjudication", "adjudicator": "maint",
      "annotations": [{"annotator": "a", "decision": "reject"}]}, "adjudicated"),
]


def test_resolution_is_read_defensively_from_the_review_summary(taxonomy):
    queue, who = ReviewQueueFactory(), UserFactory(username="r1", role="Annotator")
    expected = {}
    for summary, resolution in RESOLUTION_CASES:
        prompt = PromptFactory(status=Prompt.Status.APPROVED, review_summary=summary)
        annotate(prompt, who, queue)
        expected[prompt.pk] = resolution
    undecided = PromptFactory()
    annotate(undecided, who, queue)
    _, finals = selectors.agreement_frames(selectors.AgreementFilters())
    assert finals["resolution"].astype(object).to_dict() == expected  # only decided prompts have one


def test_frames_keep_values_outside_the_choices(taxonomy):
    """Choices travel as codes on PostgreSQL; a stray value must still arrive exactly, not vanish."""
    queue = ReviewQueueFactory()
    a, b = UserFactory(username="a", role="Annotator"), UserFactory(username="b", role="Annotator")
    prompt = PromptFactory()
    annotate(prompt, a, queue, risk_expression="explicit")
    annotate(prompt, b, queue, risk_expression="legacy_value")
    annotations, _ = selectors.agreement_frames(selectors.AgreementFilters())
    assert sorted(annotations["risk_expression"].astype(object)) == ["explicit", "legacy_value"]
    assert sorted(annotations["decision"].astype(object)) == ["accept", "accept"]


def test_final_labels_for_scattered_and_dense_item_sets(review_data):
    """Finals are fetched by id array or by id range (dense sets); both give the decided prompts only."""
    prompts = review_data["prompts"][0] + review_data["prompts"][1]
    for chosen in (prompts[::5], prompts):
        ids = [p.pk for p in chosen]
        finals = selectors.final_frame(ids)
        decided = set(
            Prompt.objects.filter(pk__in=ids, status__in=["approved", "rejected"]).values_list("pk", flat=True)
        )
        assert set(finals.index) == decided
        for p in Prompt.objects.filter(pk__in=decided):
            row = finals.loc[p.pk]
            assert row["status"] == p.status and row["dimension"] == p.dimension_id
            assert (row["severity"] == p.severity) or (p.severity is None and math.isnan(row["severity"]))


def test_an_alpha_that_cannot_be_computed_says_so_on_the_page_in_the_csv_and_in_the_api(client, admin, taxonomy):
    # Decisions split, so decision alpha is a number; every keeping annotator gave severity 3, so severity
    # alpha is 0/0; nobody gave a risk expression, so that field has no pairable item at all.
    queue = ReviewQueueFactory(name="一致性队列")
    annotators = [UserFactory(username=f"审核{i}", role="Annotator") for i in range(3)]
    for i in range(12):
        prompt = PromptFactory()
        for j, who in enumerate(annotators):
            decision = "reject" if (i + j) % 4 == 0 else "accept"
            annotate(prompt, who, queue, decision=decision, severity=3, risk_expression="")
    body = client_page(client, admin)
    api = client.get(reverse("api-agreement")).json()
    by_field = {s["field"]: s for s in api["fields"]}
    assert by_field["decision"]["alpha"]["value"] is not None
    assert by_field["decision"]["alpha"]["band"] == ag.band(by_field["decision"]["alpha"]["value"])
    undefined = [f for f in ("severity", "risk_expression") if by_field[f]["alpha"]["value"] is None]
    assert undefined == ["severity", "risk_expression"]
    for field in undefined:
        assert by_field[field]["alpha"]["band"] == "not_computable"

    metrics = pd.read_csv(io.BytesIO(client.get(reverse("agreement:export_metrics")).content),
                          encoding="utf-8-sig", keep_default_na=False)
    alpha = metrics[(metrics["section"] == "headline") & (metrics["metric"] == "krippendorff_alpha")]
    rows = alpha.set_index("field")
    for field in undefined:
        assert rows.at[field, "value"] == "" and rows.at[field, "ci_low"] == "" and rows.at[field, "ci_high"] == ""
        assert rows.at[field, "band"] == "not_computable"
    assert rows.at["decision", "band"] == by_field["decision"]["alpha"]["band"] != "not_computable"

    # The page: the same fields are the ones shown as "cannot be computed", none of them as poor.
    import re

    cards = dict(re.findall(r'data-field="([a-z_]+)">(.*?)</dl>', body, flags=re.S))
    for field in undefined:
        assert "α = —" in cards[field] and "无法计算" in cards[field] and "较差" not in cards[field]
    assert "无法计算" not in cards["decision"]


def test_the_weekly_chart_labels_come_from_the_server_in_the_page_language(client, admin, review_data):
    def chart() -> dict:
        page = client_page(client, admin)
        return json.loads(page.split('id="agreement-weekly-data" type="application/json">')[1].split("</script>")[0])

    chinese = chart()
    assert chinese["y_label"] == "Krippendorff α 系数" and chinese["n_label"] == chinese["n_label_one"] == "道题"
    assert [t["label"] for t in chinese["thresholds"]] == ["良好（α ≥ 0.8）", "待定（α ≥ 0.667）"]
    assert chinese["datasets"][0]["label"] == "决定（保留 / 拒绝）"
    client.cookies["django_language"] = "en"
    english = chart()
    assert english["y_label"] == "Krippendorff's alpha" and (english["n_label"], english["n_label_one"]) == ("items", "item")
    assert [t["label"] for t in english["thresholds"]] == ["good (α ≥ 0.8)", "tentative (α ≥ 0.667)"]
    assert not any(re.search(r"[\u4e00-\u9fff]", d["label"]) for d in english["datasets"])
    script = (settings.BASE_DIR / "static" / "js" / "agreement.js").read_text()
    assert not re.search(r"[\u4e00-\u9fff]", script)


def test_the_totals_and_notes_count_in_the_singular_and_plural(client, admin, review_data):
    client.cookies["django_language"] = "en"
    page = client_page(client, admin)
    totals = " ".join(page.split('id="agreement-totals">')[1].split("</p>")[0].split())
    assert re.fullmatch(r"\d+ annotations on \d+ items \(\d+ with two or more annotations\) by 4 annotators; "
                        r"\d+ items decided, \d+ of them by adjudication; \d+ surplus annotations? included\.", totals)
    assert re.search(r"Pairs sharing at least \d+ items?; \d+ pairs? qualify\.", page)
    client.cookies["django_language"] = "zh-hans"
    totals = " ".join(client_page(client, admin).split('id="agreement-totals">')[1].split("</p>")[0].split())
    assert re.fullmatch(r"4 名标注员对 \d+ 题共做了 \d+ 条标注（其中 \d+ 道题有两条及以上标注）；已决定 \d+ 道题，其中 \d+ 道经仲裁；"
                        r"已计入 \d+ 条多余标注。", totals), totals
