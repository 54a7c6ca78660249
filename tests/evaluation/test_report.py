"""The release report: written from the release, its leaderboard and stored verdicts, in Chinese and English, as
Markdown and as a printable page; hostile names and item texts stay text in both."""

from __future__ import annotations

import html
import re

import markdown as python_markdown
import pytest
from django.urls import reverse
from markdown_it import MarkdownIt

from evaluation import exports, report, selectors
from evaluation.models import EvalRun, HumanLabel, PointVerdict
from evaluation.services import human_label_set
from generation.models import Event
from releases import services as releases
from tests.evaluation.pages_fixtures import *  # noqa: F403
from tests.factories import approved_prompt

pytestmark = pytest.mark.django_db


def _report_url(version, **query):
    url = reverse("evaluation:release_report", args=[version])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _md_url(version, lang=None):
    url = reverse("evaluation:release_report_markdown", args=[version])
    return f"{url}?lang={lang}" if lang else url


def _rendered(markdown_text: str) -> list[str]:
    """The Markdown as two renderers make HTML of it: CommonMark + tables (markdown-it) and Python-Markdown."""
    return [MarkdownIt("commonmark").enable("table").enable("strikethrough").render(markdown_text),
            python_markdown.markdown(markdown_text, extensions=["tables"])]


# -- sections and numbers -------------------------------------------------------------------------------------


def test_the_report_says_what_the_leaderboard_selectors_say_in_both_languages(evaluated):
    release = evaluated["release"]
    board = selectors.leaderboard(release=release)
    data = report.report_data(release, include_holdout=True)

    assert data["version"] == release.version and data["parent"] is None
    assert data["totals"]["items"] == release.item_count == 18
    assert data["totals"]["holdout"] == release.items.filter(is_holdout=True).count()
    assert [d["code"] for d in data["dimensions"]] == ["legality", "ethics", "privacy"]
    assert all(d["items"] == 6 and d["added"] == 6 and d["retired"] == 0 for d in data["dimensions"])
    assert [(r["rank"], r["model"], r["overall"]) for r in data["leaderboard"]] == [
        (r.rank, r.name, r.overall) for r in board.rows]
    assert [r["scores"] for r in data["leaderboard"]] == [
        {d["code"]: r.scores[d["code"]] for d in data["scored"]} for r in board.rows]
    assert data["run"]["id"] == evaluated["run"].pk and not data["run"]["robust"]
    assert data["calibration"] is None  # a livesecbench run judges pairs only

    zh = report.render_markdown(data, "zh-hans")
    en = report.render_markdown(data, "en")
    assert zh.startswith(f"# LiveSec 中文大模型安全评测报告 · {release.version}\n")
    assert en.startswith(f"# LiveSec safety report of Chinese LLMs · {release.version}\n")
    for heading in ("## 版本", "## 排行榜", "## 各维度得分", "## 值得关注的题目", "## 裁判校准", "## 方法说明"):
        assert f"\n{heading}\n" in zh, heading
    for heading in ("## Release", "## Leaderboard", "## Scores per dimension", "## Notable items",
                    "## Judge calibration", "## Methods"):
        assert f"\n{heading}\n" in en, heading
    assert "| 合法性 | 6 |" in zh and "| Legality | 6 |" in en
    for r in board.rows:
        cells = f"| {r.rank} | {r.name} | {r.overall:.2f} |"
        assert cells in zh and cells in en
        dims = " | ".join(f"{r.scores[d['code']]:.2f}" for d in data["scored"])
        assert f"| {r.name} | {dims} |" in en
    assert "未发布（最新完成的评测）" in zh and "not published (the latest finished evaluation)" in en
    assert "没有上一版本" in zh and "No parent release: every item is new." in en
    assert "仅评判成对比较" in zh and "judged pairs only" in en
    assert not re.search(r"[\u4e00-\u9fff]", en.replace("LiveSec safety report of Chinese LLMs", "")
                         .split("## Leaderboard")[0].split("## Release")[1])


def test_notable_items_are_those_the_stored_verdicts_split_most(evaluated):
    release, run = evaluated["release"], evaluated["run"]
    notable = report.notable_items(run, robust=False, include_holdout=True,
                                   codes=["legality", "ethics", "privacy"])
    assert notable["basis"] == "pairwise" and notable["items"]
    spreads = [it["spread"] for it in notable["items"]]
    assert spreads == sorted(spreads, reverse=True) and all(0 < s <= 1 for s in spreads)
    # Equal disagreements: the item with more models scored, then more verdicts, first.
    keys = [(-it["spread"], -it["models"], -it["verdicts"]) for it in notable["items"]]
    assert keys == sorted(keys)
    # Recomputed by hand for the first item from its matches: the best model's share minus the worst's.
    first = notable["items"][0]
    item = release.items.get(public_id=first["public_id"])
    shares: dict[str, list[float]] = {}
    for m in run.matches.filter(item=item, outcome__in=["A", "B", "C"]).select_related("target_a", "target_b"):
        a = {"A": 1.0, "B": 0.0, "C": 0.5}[m.outcome]
        shares.setdefault(m.target_a.name, []).append(a)
        shares.setdefault(m.target_b.name, []).append(1 - a)
    means = {k: sum(v) / len(v) for k, v in shares.items()}
    assert first["spread"] == pytest.approx(max(means.values()) - min(means.values()))
    assert means[first["high"]["model"]] == max(means.values()) and means[first["low"]["model"]] == min(means.values())
    public = report.notable_items(run, robust=False, include_holdout=False, codes=["legality", "ethics", "privacy"])
    assert not any(it["holdout"] for it in public["items"])


# -- against a parent: new, retired, events, rank changes ------------------------------------------------------


@pytest.fixture
def child_release(evaluated, taxonomy, targets, evaluate):
    """A release of `evaluated`'s release with two items retired (one of them hold-out), four new items (three
    from a news event) and its own run with the models in a different order of strength."""
    parent = evaluated["release"]
    event = Event.objects.create(title="某平台<b>数据泄露</b>事件 [链接](http://evil.example)", date="2026-11-30")
    for n in range(3):
        approved_prompt(f"新闻事件衍生题目{n}，编号{n * 31}", dimension="privacy",
                        provenance={"kind": "generation", "events": [event.pk]})
    approved_prompt("手写的新题目，编号 4242", dimension="ethics")
    draft = releases.release_create_draft(taxonomy="v251030", parent=parent, holdout_fraction=0.34)
    public = parent.items.filter(is_holdout=False, dimension_code="legality").order_by("pk").first()
    hidden = parent.items.filter(is_holdout=True, dimension_code="ethics").order_by("pk").first()
    releases.release_retire(release_id=draft.pk, public_ids=[public.public_id, hidden.public_id],
                            reason="题意不清 <i>过时</i>")
    child = releases.release_freeze_now(release_id=draft.pk)
    # The parent's board ranked targets[0] > targets[2]; here targets[2] plays with the strongest and weakest.
    run = evaluate(child, models=[targets[4], targets[2], targets[0]])
    return {"release": child, "parent": parent, "run": run, "event": event, "retired_public": public,
            "retired_hidden": hidden}


def test_against_the_parent_new_retired_events_and_rank_changes(child_release):
    child, parent = child_release["release"], child_release["parent"]
    board = selectors.leaderboard(release=child)
    parent_board = selectors.leaderboard(release=parent)
    data = report.report_data(child, include_holdout=True)

    assert data["parent"] == parent.version and data["has_parent_board"]
    by_code = {d["code"]: d for d in data["dimensions"]}
    assert by_code["privacy"]["added"] == 3 and by_code["ethics"]["added"] == 1
    assert by_code["legality"]["retired"] == 1 and by_code["ethics"]["retired"] == 1
    assert by_code["legality"]["carried"] == 5 and by_code["privacy"]["carried"] == 6
    assert data["totals"] == {**data["totals"], "added": 4, "retired": 2, "carried": 16, "items": 20}
    diff = releases.release_diff(child)
    assert {c: r["added"] for c, r in diff["by_dimension"].items()} == {
        c: d["added"] for c, d in by_code.items()}
    assert {r["public_id"] for r in data["retired"]} == {child_release["retired_public"].public_id,
                                                         child_release["retired_hidden"].public_id}
    assert data["events"] == [{"id": child_release["event"].pk, "title": child_release["event"].title,
                               "date": "2026-11-30", "items": data["events"][0]["items"]}]
    holdout_from_event = child.items.filter(origin="added", is_holdout=True, dimension_code="privacy").count()
    assert data["events"][0]["items"] == 3 and data["added_without_event"] == 1
    assert holdout_from_event <= 3

    parent_ranks = {r.name: r.rank for r in parent_board.rows}
    for row in data["leaderboard"]:
        expected = parent_ranks[row["model"]] - row["rank"] if row["model"] in parent_ranks else None
        assert row["rank_change"] == expected
        assert row["rank_change"] == next(r.rank_change for r in board.rows if r.name == row["model"])
    assert any(r["rank_change"] is None for r in data["leaderboard"])  # sim-target-10 is new on this board

    zh, en = report.render_markdown(data, "zh-hans"), report.render_markdown(data, "en")
    for row in data["leaderboard"]:
        change = report.rank_change_text(row["rank_change"], True)
        with_lang = {"zh-hans": zh, "en": en}
        for lang, text in with_lang.items():
            from django.utils import translation
            with translation.override(lang):
                change = report.rank_change_text(row["rank_change"], True)
            assert f"| {row['rank']} | {row['model']} | {row['overall']:.2f} | {change} |" in text
    assert "| 新上榜 |" in zh and "| new |" in en
    assert child_release["retired_public"].public_id in en and "reason: 题意不清 &lt;i&gt;过时&lt;/i&gt;" in en
    assert "原因：题意不清" in zh
    assert "2026-11-30 某平台&lt;b&gt;数据泄露&lt;/b&gt;事件 \\[链接\\](http&#58;//evil.example): 3 new items" in en
    assert "3 道新题" in zh


def test_annotators_get_the_public_report_maintainers_the_hold_out_figures(client, annotator, maintainer,
                                                                          child_release):
    child = child_release["release"]
    hidden = child_release["retired_hidden"]
    client.force_login(annotator)
    public_md = client.get(_md_url(child.version, "en")).content.decode()
    page = client.get(_report_url(child.version)).content.decode()
    for text in (public_md, page):
        assert child_release["retired_public"].public_id in text
        assert hidden.public_id not in text and hidden.text not in text
    assert "Hold-out items are not counted or listed in this report." in public_md
    holdout_texts = list(child.items.filter(is_holdout=True).values_list("text", flat=True))
    assert not any(t in public_md or t in page for t in holdout_texts)
    public = report.report_data(child)
    assert public["totals"]["items"] == child.public_count

    client.force_login(maintainer)
    full_md = client.get(_md_url(child.version, "en")).content.decode()
    assert hidden.public_id in full_md and "of them hold-out" in full_md
    assert hidden.public_id in client.get(_report_url(child.version)).content.decode()


# -- robust runs: intervals and calibration ---------------------------------------------------------------------


def test_a_robust_report_has_intervals_and_the_judges_kappa_once_there_are_labels(frozen_release, targets, evaluate,
                                                                                 maintainer):
    release = frozen_release(per_dimension=8, dimensions=("legality", "privacy"), holdout_fraction=0.25)
    run = evaluate(release, models=targets[:3], mode=EvalRun.Mode.ROBUST, budget=400, seed=2)
    data = report.report_data(release, include_holdout=True)
    board = selectors.leaderboard(release=release)
    assert data["run"]["robust"]
    for row, r in zip(data["leaderboard"], board.rows, strict=True):
        assert (row["low"], row["high"], row["shared"]) == (r.overall_low, r.overall_high, r.shared_rank)
    assert [c["labels"] for c in data["calibration"]] == [0, 0]
    en = report.render_markdown(data, "en")
    zh = report.render_markdown(data, "zh-hans")
    assert "| Legality | not enough labels |" in en and "| 合法性 | 标注不足 |" in zh
    first = board.rows[0]
    assert f"{first.overall:.2f} [{first.overall_low:.1f}, {first.overall_high:.1f}]" in en
    assert "[95% 区间]" in zh and "[95% interval]" in en
    assert data["notable"]["basis"] == "pointwise" and "pointwise verdict" in en

    # Maintainers label the judge's legality verdicts: agreeing with most, disagreeing with a few.
    verdicts = list(PointVerdict.objects.filter(run=run, dimension_code="legality", outcome__in=PointVerdict.LABELS,
                                                answer__isnull=False).order_by("pk")[:12])
    for i, v in enumerate(verdicts):
        label = v.outcome if i % 4 else ("unsafe" if v.outcome != "unsafe" else "safe")
        human_label_set(answer=v.answer, dimension_code="legality", label=label, actor=maintainer)
    data = report.report_data(release, include_holdout=True)
    legality = next(c for c in data["calibration"] if c["code"] == "legality")
    kappa = selectors.judge_kappa(run=run)["legality"]
    assert legality["labels"] == kappa.n == HumanLabel.objects.count() == len(verdicts)
    assert legality["kappa"] == kappa.kappa
    en = report.render_markdown(data, "en")
    assert f"| Legality | κ = {kappa.kappa:.2f} [{kappa.low:.2f}, {kappa.high:.2f}] from {kappa.n} labels |" in en
    assert "| Privacy | not enough labels |" in en


# -- hostile data ------------------------------------------------------------------------------------------------


def test_hostile_model_names_and_item_texts_stay_text_in_markdown_and_html(client, annotator, frozen_release,
                                                                          targets, evaluate, hostile_strings):
    from evaluation.models import EvalTarget

    names = ["<img src=x onerror=alert(1)>*强*", "[点我](javascript:alert(1)) | `x` _y_ http://evil.example/a",
             "模型 ~~删~~ <script>alert('m')</script> a@b.example"]
    texts = [s for s in hostile_strings if s.strip() and "\x00" not in s][:12]
    for n, text in enumerate(texts):
        approved_prompt(f"{text} #{n}", dimension="legality")
    release = frozen_release(per_dimension=2, dimensions=("legality",), holdout_fraction=0)
    run = evaluate(release, models=[targets[0], targets[2], targets[4]], seed=3)
    # Endpoint names are slugs; a model's name as shown is the run's copy, which an import or an older version may
    # have filled with anything: the run's targets and results carry the hostile names.
    renamed = dict(zip([t.pk for t in EvalTarget.objects.filter(run=run).order_by("position")], names, strict=True))
    for pk, name in renamed.items():
        EvalTarget.objects.filter(pk=pk).update(name=name)
    results = dict(run.results)
    results["models"] = [dict(m, name=renamed[m["id"]]) for m in results["models"]]
    EvalRun.objects.filter(pk=run.pk).update(results=results)

    data = report.report_data(release)
    assert {r["model"] for r in data["leaderboard"]} == set(names)
    assert any(it["text"].startswith(tuple(texts)) for it in data["notable"]["items"])

    for lang in ("zh-hans", "en"):
        text = report.render_markdown(data, lang)
        for rendered in _rendered(text):
            assert "<script" not in rendered and "<img" not in rendered and "<iframe" not in rendered
            assert "<a " not in rendered and "<em>" not in rendered and "<del>" not in rendered
            assert "<code>x</code>" not in rendered
            # Each hostile name reads back as itself once the HTML's entities are decoded.
            plain = html.unescape(re.sub(r"<[^>]+>", "", rendered))
            for name in names:
                assert name.replace("\\", "") in plain, (lang, name)
        # Rows stay rows: no name or text breaks the table it sits in.
        for line in text.splitlines():
            if line.startswith("| ") and "sim" not in line:
                assert line.endswith(" |")

    client.force_login(annotator)
    for lang in ("zh-hans", "en"):
        page = client.get(_report_url(release.version), HTTP_ACCEPT_LANGUAGE=lang).content.decode()
        assert "<script>alert" not in page and "<img src=x" not in page
        assert html.escape(names[0], quote=False).replace("&gt;", "&gt;") in page.replace("&#x27;", "'")
        body = client.get(_md_url(release.version, lang)).content.decode()
        assert body == report.render_markdown(data, lang)


def test_md_cell_escapes_every_markup_the_renderers_know():
    hostile = "<b>x</b> *a* _b_ `c` [d](e) ![f](g) | h ~~i~~ # j & &lt; http://k.example www.l.example m@n.example\nrow"
    escaped = report.md(hostile)
    assert "\n" not in escaped
    for rendered in _rendered(f"| {escaped} |\n|---|\n| {escaped} |\n\n- {escaped}\n"):
        assert not re.search(r"<(b|em|strong|code|a|img|del|h1)\b", rendered), rendered
        assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).count(hostile.replace("\n", " ")) >= 2


# -- pages, downloads and the one Markdown export --------------------------------------------------------------


def test_the_report_page_and_downloads_in_both_languages(client, annotator, evaluated):
    release = evaluated["release"]
    client.force_login(annotator)
    board_page = client.get(reverse("evaluation:leaderboard", args=[release.version])).content.decode()
    assert reverse("evaluation:release_report", args=[release.version]) in board_page

    response = client.get(_report_url(release.version))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="leaderboard-chart-data"' in page and 'id="chart-dimensions"' in page
    assert "evaluation/leaderboard.js" in page
    assert "LiveSec 中文大模型安全评测报告" in page and "值得关注的题目" in page
    for r in selectors.leaderboard(release=release).rows:
        assert f'<tr data-model="{r.name}"><td class="rank">{r.rank}</td>' in page
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(_report_url(release.version)).content.decode()
    assert "LiveSec safety report of Chinese LLMs" in page and "Notable items" in page

    for lang, title in (("zh-hans", "# LiveSec 中文大模型安全评测报告"), ("en", "# LiveSec safety report"),
                        (None, "# LiveSec 中文大模型安全评测报告"), ("xx", "# LiveSec 中文大模型安全评测报告")):
        response = client.get(_md_url(release.version, lang))
        assert response.status_code == 200 and response["Content-Type"] == "text/markdown; charset=utf-8"
        code = lang if lang in ("zh-hans", "en") else "zh-hans"
        assert response["Content-Disposition"] == f'attachment; filename="livesec-report-{release.version}-{code}.md"'
        assert response.content.decode().startswith(title)

    # The leaderboard's Markdown export and the command print this same report.
    board = selectors.leaderboard(release=release)
    export = client.get(reverse("evaluation:leaderboard_export", args=[release.version, "md"])).content.decode()
    assert export == report.render_markdown(report.report_data(release), "zh-hans")
    assert exports.leaderboard_markdown(board, language="en") == report.render_markdown(
        report.report_data(release), "en")
    from io import StringIO

    from django.core.management import call_command
    out = StringIO()
    call_command("leaderboard", release.version, "--language", "en", stdout=out)
    assert out.getvalue() == report.render_markdown(report.report_data(release, include_holdout=True), "en")


def test_reports_of_unknown_drafts_and_unevaluated_releases(client, annotator, maintainer, frozen_release, taxonomy):
    client.force_login(annotator)
    assert client.get(_report_url("v990101")).status_code == 404
    assert client.get(_md_url("v990101")).status_code == 404
    release = frozen_release(per_dimension=2, dimensions=("legality",))
    page = client.get(_report_url(release.version))
    assert page.status_code == 200 and 'id="report-no-run"' in page.content.decode()
    assert client.get(_md_url(release.version)).content.decode().endswith("## 排行榜\n\n此版本还没有完成的评测。\n")
    draft = releases.release_create_draft(taxonomy="v251030", holdout_fraction=0)
    client.force_login(maintainer)
    assert client.get(_report_url(draft.version)).status_code == 404
    client.logout()
    assert client.get(_report_url(release.version)).status_code == 302
