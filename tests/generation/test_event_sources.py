"""Event sources: feeds served by the test on 127.0.0.1, drop folders, dedup, dimensions, limits and roles."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from curation.models import Dimension
from generation import event_services as evs
from generation import event_sources as es
from generation.models import Event, EventSource
from tests.feeds import FeedServer

TODAY = dt.date(2026, 1, 1)

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>安全新闻</title>
<item><title>某平台发生大规模个人信息泄露</title><link>https://news.example.cn/a/1</link>
  <description>数百万用户的手机号被公开售卖。</description><pubDate>Tue, 04 Nov 2025 08:00:00 +0800</pubDate>
  <category>隐私</category></item>
<item><title>网传“喝醋能治病”系谣言</title><link>https://news.example.cn/a/2</link>
  <description>专家辟谣。</description><pubDate>Wed, 05 Nov 2025 09:00:00 +0800</pubDate></item>
<item><link>https://news.example.cn/a/3</link><description>no title</description></item>
<item><title>日期坏了</title><pubDate>yesterday-ish</pubDate></item>
</channel></rss>""".encode()

# The first entry is the RSS's first item in traditional script (another link): the same event.
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Feed</title>
<entry><title>某平臺發生大規模個人信息洩露！</title><link rel="alternate" href="https://other.example.org/x"/>
  <updated>2025-11-04T01:00:00Z</updated><summary>轉載</summary></entry>
<entry><title>另一条新闻</title><link href="https://news.example.cn/a/2"/><updated>2025-11-06T01:00:00Z</updated></entry>
<entry><title>大模型越狱提示在社交平台流传</title><link href="https://news.example.cn/a/9"/>
  <published>2025-11-07T10:00:00+08:00</published><category term="安全"/></entry>
</feed>""".encode()

BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<rss><channel><item><title>&lol2;</title></item></channel></rss>"""


@pytest.fixture(scope="module")
def _server():
    server = FeedServer()
    yield server
    server.stop()


@pytest.fixture
def feeds(_server):
    _server.routes = {"/rss.xml": ("body", RSS), "/atom.xml": ("body", ATOM)}
    _server.hits.clear()
    return _server


@pytest.fixture(autouse=True)
def _event_settings(settings, tmp_path):
    settings.EVENT_FETCH_ALLOW_PRIVATE = True  # the feeds of these tests are served on 127.0.0.1
    settings.EVENT_FETCH_ALLOW_HOSTS = []
    settings.EVENT_FETCH_TIMEOUT = 1.0
    settings.EVENT_FETCH_MAX_BYTES = 64 * 1024
    settings.EVENT_FOLDER_ROOT = tmp_path / "drop"
    settings.EVENT_FOLDER_ROOT.mkdir()


def _feed(name: str, url: str, **kw) -> EventSource:
    return evs.event_source_create(kind="feed", name=name, url=url, **kw)


# -- pure parsing -------------------------------------------------------------------------------------------


def test_rss_items_are_parsed_and_bad_ones_reported_not_fatal():
    result = es.parse_feed(RSS, today=TODAY)
    assert [e.title for e in result.events] == ["某平台发生大规模个人信息泄露", "网传“喝醋能治病”系谣言"]
    first = result.events[0]
    assert (first.date, first.url, first.summary, first.tags) == (
        dt.date(2025, 11, 4), "https://news.example.cn/a/1", "数百万用户的手机号被公开售卖。", ["隐私"])
    assert len(result.errors) == 2
    assert "no title" in result.errors[0] and "日期坏了" in result.errors[1]


def test_atom_entries_are_parsed():
    result = es.parse_feed(ATOM, today=TODAY)
    assert [(e.title, e.date, e.url) for e in result.events][1:] == [
        ("另一条新闻", dt.date(2025, 11, 6), "https://news.example.cn/a/2"),
        ("大模型越狱提示在社交平台流传", dt.date(2025, 11, 7), "https://news.example.cn/a/9"),
    ]
    assert result.events[2].tags == ["安全"] and result.errors == []


def test_entity_expansion_and_non_feeds_are_refused():
    with pytest.raises(ValueError, match="forbidden XML"):
        es.parse_feed(BOMB, today=TODAY)
    with pytest.raises(ValueError, match="not well-formed"):
        es.parse_feed(b"<rss><channel>", today=TODAY)
    with pytest.raises(ValueError, match="not an RSS or Atom"):
        es.parse_feed(b"<html><body>hi</body></html>", today=TODAY)


def test_json_and_jsonl_files_report_bad_entries():
    jsonl = "\n".join([
        json.dumps({"title": "一", "date": "2025-11-01", "summary": "s", "url": "https://a.example/1", "tags": "x,y"}),
        "{not json",
        json.dumps(["not", "an", "object"]),
        json.dumps({"title": "二", "url": "javascript:alert(1)"}),
        json.dumps({"title": "三", "date": "2025-11-03T10:00:00+08:00"}),
    ])
    result = es.parse_json_events(jsonl, jsonl=True, today=TODAY)
    assert [(e.title, e.date, e.tags) for e in result.events] == [
        ("一", dt.date(2025, 11, 1), ["x", "y"]), ("三", dt.date(2025, 11, 3), [])]
    assert [m.split(":")[0].split(" (")[0] for m in result.errors] == ["line 2", "line 3", "line 4"]
    listed = es.parse_json_events(json.dumps([{"title": "四"}, 5]), jsonl=False, today=TODAY)
    assert listed.events[0].date == TODAY and listed.errors == ["entry 2: not an object"]
    with pytest.raises(ValueError):
        es.parse_json_events('{"title": "not a list"}', jsonl=False, today=TODAY)


def test_dimension_suggestion_uses_taxonomy_words_and_folds_scripts():
    rules = es.build_rules(
        [{"code": "privacy", "name_zh": "隐私性", "name_en": "Privacy", "description": "个人信息收集、泄露与人肉搜索。",
          "sub_dimensions": []},
         {"code": "factuality", "name_zh": "事实性", "name_en": "Factuality", "description": "错误前提、谣言与虚假信息"}],
        {"privacy": ["开盒"]})
    assert es.suggest_dimensions("某公司個人信息被洩露", rules) == ["privacy"]
    assert es.suggest_dimensions("网红被开盒", rules) == ["privacy"]
    assert es.suggest_dimensions("網傳謠言", rules) == ["factuality"]
    assert es.suggest_dimensions("天气晴", rules) == []


def test_private_addresses_are_refused_unless_allowed():
    for url in ("http://127.0.0.1/feed", "http://10.1.2.3/", "http://[::1]/", "http://169.254.169.254/latest",
                "http://localhost:5432/"):
        with pytest.raises(es.FetchRefused, match="non-public"):
            es.check_url(url)
    es.check_url("http://127.0.0.1/feed", allow_hosts=["127.0.0.1"])
    es.check_url("http://10.1.2.3/", allow_private=True)
    for url in ("file:///etc/passwd", "ftp://example.com/", "http://user:pw@example.com/"):
        with pytest.raises(es.FetchRefused):
            es.check_url(url, allow_private=True)


# -- fetching feeds ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rss_fetch_stores_events_with_source_and_suggested_dimensions(taxonomy, feeds):
    source = _feed("rss", feeds.url("/rss.xml"))
    report = evs.event_source_fetch(source=source)
    assert (report.created, report.duplicates, report.invalid, report.error) == (2, 0, 2, "")
    source.refresh_from_db()
    assert (source.last_created, source.last_invalid, source.last_error) == (2, 2, "")
    assert source.last_ok_at == source.last_fetched_at is not None
    leak = Event.objects.get(source_url="https://news.example.cn/a/1")
    assert leak.source == source and leak.date == dt.date(2025, 11, 4) and leak.summary == "数百万用户的手机号被公开售卖。"
    # Suggested from the newest taxonomy (v251215): its names, description terms and the keyword table.
    assert {d.code for d in leak.dimensions.all()} == {"privacy"} and not leak.dimensions_confirmed
    assert {d.taxonomy.code for d in leak.dimensions.all()} == {"v251215"}
    rumour = Event.objects.get(source_url="https://news.example.cn/a/2")
    assert {d.code for d in rumour.dimensions.all()} == {"truthfulness"}

    again = evs.event_source_fetch(source=source)
    assert (again.created, again.duplicates) == (0, 2)
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_duplicates_by_traditional_title_and_by_link(taxonomy, feeds):
    evs.event_source_fetch(source=_feed("rss", feeds.url("/rss.xml")))
    report = evs.event_source_fetch(source=_feed("atom", feeds.url("/atom.xml")))
    # entry 1: the same title in traditional script (+ punctuation); entry 2: a link already stored.
    assert (report.created, report.duplicates) == (1, 2)
    assert Event.objects.filter(source__name="atom").get().title == "大模型越狱提示在社交平台流传"


@pytest.mark.django_db
def test_an_event_recorded_by_hand_is_not_fetched_again(feeds, maintainer):
    from generation import services as gen

    gen.event_create(title="某平台發生大規模個人信息洩露", date="2025-11-04", actor=maintainer)
    report = evs.event_source_fetch(source=_feed("rss", feeds.url("/rss.xml")))
    assert (report.created, report.duplicates) == (1, 1)


@pytest.mark.django_db
def test_redirect_to_another_host_is_refused_and_same_host_followed_once(feeds):
    feeds.routes["/elsewhere"] = ("redirect", feeds.url("/rss.xml", host="localhost"))
    feeds.routes["/moved"] = ("redirect", "/rss.xml")
    feeds.routes["/twice"] = ("redirect", "/moved")
    away = _feed("away", feeds.url("/elsewhere"))
    report = evs.event_source_fetch(source=away)
    assert "redirect" in report.error and "not followed" in report.error and report.created == 0
    away.refresh_from_db()
    assert away.last_error == report.error and away.last_ok_at is None and away.last_fetched_at is not None
    assert "/rss.xml" not in feeds.hits
    assert evs.event_source_fetch(source=_feed("moved", feeds.url("/moved"))).created == 2
    assert "redirect" in evs.event_source_fetch(source=_feed("twice", feeds.url("/twice"))).error


@pytest.mark.django_db
def test_oversized_replies_are_refused(feeds):
    big = b"<rss><channel>" + b"<!-- padding -->" * 10_000 + b"</channel></rss>"
    feeds.routes["/big"] = ("body", big)
    feeds.routes["/big-unsized"] = ("body", big, False)
    for path in ("/big", "/big-unsized"):
        report = evs.event_source_fetch(source=_feed(path.strip("/"), feeds.url(path)))
        assert "too large" in report.error and report.created == 0


@pytest.mark.django_db
def test_a_slow_reply_is_cut_at_the_time_limit(feeds):
    feeds.routes["/slow"] = ("slow",)  # 10 s of trickle; the limit is 1 s
    started = time.monotonic()
    report = evs.event_source_fetch(source=_feed("slow", feeds.url("/slow")))
    assert "longer than" in report.error
    assert time.monotonic() - started < 4


@pytest.mark.django_db
def test_the_default_refuses_feeds_on_private_addresses(settings, feeds):
    settings.EVENT_FETCH_ALLOW_PRIVATE = False
    report = evs.event_source_fetch(source=_feed("internal", feeds.url("/rss.xml")))
    assert "non-public" in report.error and feeds.hits == []
    settings.EVENT_FETCH_ALLOW_HOSTS = ["127.0.0.1"]
    assert evs.event_source_fetch(source=EventSource.objects.get(name="internal")).created == 2


# -- folder sources ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_jsonl_folder_source_reads_files_once_and_moves_them(settings):
    folder = settings.EVENT_FOLDER_ROOT / "wire"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"title": "甲事件", "date": "2025-11-01", "summary": "摘要", "url": "https://w.example/1", "tags": ["t"]},
        {"title": "乙事件", "date": "2025-11-02"},
        {"title": "", "date": "2025-11-02"},
    ]), encoding="utf-8")
    (folder / "b.json").write_text(json.dumps([{"title": "甲事件！"}]), encoding="utf-8")
    (folder / "c.json").write_text("{broken", encoding="utf-8")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    source = evs.event_source_create(kind="folder", name="wire", folder="wire")
    report = evs.event_source_fetch(source=source)
    assert (report.created, report.duplicates, report.invalid) == (2, 1, 2)
    assert sorted(p.name for p in (folder / "processed").iterdir()) == ["a.jsonl", "b.json"]
    assert [p.name for p in (folder / "failed").iterdir()] == ["c.json"]
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["notes.txt"]
    event = Event.objects.get(title="甲事件")
    assert (event.source, event.tags, event.summary) == (source, ["t"], "摘要")
    assert evs.event_source_fetch(source=source).created == 0


@pytest.mark.django_db
def test_folder_sources_stay_under_the_drop_folder(settings, tmp_path):
    for folder in ("../outside", "/etc", "a/../../b", ""):
        with pytest.raises(evs.SourceError):
            evs.event_source_create(kind="folder", name=f"bad {folder}", folder=folder)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.json").write_text(json.dumps([{"title": "外面"}]), encoding="utf-8")
    (settings.EVENT_FOLDER_ROOT / "link").symlink_to(outside)
    with pytest.raises(evs.SourceError):
        evs.event_source_create(kind="folder", name="link", folder="link")
    assert not Event.objects.exists()


# -- hostile text, pages, roles ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_hostile_titles_and_summaries_are_stored_exactly_and_shown_escaped(settings, client_for, maintainer,
                                                                           hostile_strings):
    storable = [s for s in hostile_strings if "\x00" not in s]
    folder = settings.EVENT_FOLDER_ROOT / "hostile"
    folder.mkdir()
    rows = [{"title": f"{i} {s[:280]}", "summary": s, "date": "2025-11-01"} for i, s in enumerate(storable)]
    rows.append({"title": "null\x00byte", "summary": "x"})
    (folder / "h.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    source = evs.event_source_create(kind="folder", name="hostile", folder="hostile")
    report = evs.event_source_fetch(source=source)
    assert (report.created, report.invalid) == (len(storable), 1)
    stored = {e.summary: e for e in Event.objects.all()}
    for i, s in enumerate(storable):
        assert stored[s].title == f"{i} {s[:280]}".strip()  # a title loses only its outer whitespace
    c = client_for(maintainer)
    page = c.get(reverse("generation:event_list")).content.decode()
    assert "<script>alert('xss')</script>" not in page and "<svg onload=alert(1)>" not in page
    assert html.escape("<svg onload=alert(1)>", quote=False) in page or "&lt;svg onload=alert(1)&gt;" in page
    one = stored["<script>alert('xss')</script>"]
    detail = c.get(reverse("generation:event_edit", args=[one.pk])).content.decode()
    assert "<script>alert('xss')</script>" not in detail and "&lt;script&gt;" in detail


@pytest.mark.django_db
def test_source_page_shows_the_last_error_escaped(client_for, maintainer, feeds):
    feeds.routes["/x"] = ("redirect", "http://<b>evil</b>.example/")
    source = _feed("<i>hostile</i>", feeds.url("/x"))
    evs.event_source_fetch(source=source)
    page = client_for(maintainer).get(reverse("generation:event_source_list")).content.decode()
    assert "&lt;i&gt;hostile&lt;/i&gt;" in page and "<i>hostile</i>" not in page and "<b>evil</b>" not in page
    assert "not followed" in page


@pytest.mark.django_db
def test_annotators_cannot_see_or_create_sources(client_for, annotator):
    c = client_for(annotator)
    assert c.get(reverse("generation:event_source_list")).status_code == 403
    body = {"kind": "feed", "name": "n", "url": "https://example.com/feed", "fetch_interval_minutes": 60}
    assert c.post(reverse("generation:event_source_create"), body).status_code == 403
    assert c.post(reverse("api-event-sources"), body, content_type="application/json").status_code == 403
    assert not EventSource.objects.exists()


@pytest.mark.django_db
def test_maintainers_create_and_edit_sources_by_page_and_api(client_for, maintainer):
    c = client_for(maintainer)
    r = c.post(reverse("generation:event_source_create"), {"kind": "feed", "name": "新华网", "enabled": "on",
                                                         "url": "https://example.com/rss", "fetch_interval_minutes": 30})
    assert r.status_code == 302
    source = EventSource.objects.get(name="新华网")
    assert (source.kind, source.url, source.fetch_interval_minutes, source.created_by) == (
        "feed", "https://example.com/rss", 30, maintainer)
    r = c.post(reverse("generation:event_source_create"), {"kind": "folder", "name": "bad", "folder": "../etc",
                                                         "fetch_interval_minutes": 30})
    assert r.status_code == 400 and not EventSource.objects.filter(name="bad").exists()
    r = c.post(reverse("api-event-sources"), {"kind": "api", "name": "push"}, content_type="application/json")
    assert r.status_code == 201
    push = EventSource.objects.get(name="push")
    r = c.patch(reverse("api-event-source-detail", args=[source.pk]), {"enabled": False},
                content_type="application/json")
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = c.post(reverse("api-event-source-push", args=[push.pk]),
               {"events": [{"title": "推送事件", "date": "2025-11-09"}, {"title": "推送事件。"}]},
               content_type="application/json")
    assert r.json() | {"messages": []} == {"created": 1, "duplicates": 1, "invalid": 0, "messages": []}
    assert Event.objects.get(title="推送事件").source == push


@pytest.mark.django_db
def test_maintainer_confirms_or_edits_dimensions_on_the_event_page(taxonomy, client_for, maintainer, feeds):
    evs.event_source_fetch(source=_feed("rss", feeds.url("/rss.xml")))
    event = Event.objects.get(source_url="https://news.example.cn/a/1")
    c = client_for(maintainer)
    page = c.get(reverse("generation:event_edit", args=[event.pk])).content.decode()
    assert reverse("generation:event_dimensions", args=[event.pk]) in page
    privacy = event.dimensions.get(code="privacy")
    assert re.search(rf'value="{privacy.pk}"[^>]*checked', page)  # the suggestion is pre-checked
    assert not re.search(r'value="\d+"[^>]*checked', page.replace(f'value="{privacy.pk}"', ""))
    ethics = Dimension.objects.filter(code="ethics").first()
    r = c.post(reverse("generation:event_dimensions", args=[event.pk]), {"dimensions": [privacy.pk, ethics.pk]})
    assert r.status_code == 302
    event.refresh_from_db()
    assert set(event.dimensions.all()) == {privacy, ethics}
    assert event.dimensions_confirmed and event.dimensions_confirmed_by == maintainer
    assert event.dimensions_confirmed_at is not None
    r = c.post(reverse("api-event-dimensions", args=[event.pk]), {"dimensions": []}, content_type="application/json")
    assert r.status_code == 200 and not event.dimensions.exists()
    assert c.get(reverse("api-event-detail", args=[event.pk])).json()["dimensions_confirmed"] is True


# -- scheduling --------------------------------------------------------------------------------------------


def test_the_beat_schedule_runs_the_due_fetch_periodically():
    from config.celery import app

    entry = django_settings.CELERY_BEAT_SCHEDULE["event-sources-fetch-due"]
    assert entry["task"] == "generation.tasks.event_sources_fetch_due_task"
    assert 0 < float(entry["schedule"]) <= 3600
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert app.tasks["generation.tasks.event_source_fetch_task"].acks_late


@pytest.mark.django_db
def test_the_periodic_task_fetches_only_due_sources(feeds, django_capture_on_commit_callbacks):
    from generation.tasks import event_sources_fetch_due_task

    never = _feed("never fetched", feeds.url("/rss.xml"))
    recent = _feed("fetched a minute ago", feeds.url("/atom.xml"), fetch_interval_minutes=60)
    stale = _feed("fetched two hours ago", feeds.url("/atom.xml"), fetch_interval_minutes=60)
    off = _feed("disabled", feeds.url("/atom.xml"), enabled=False)
    EventSource.objects.filter(pk=recent.pk).update(last_fetched_at=timezone.now() - timedelta(minutes=1))
    EventSource.objects.filter(pk=stale.pk).update(last_fetched_at=timezone.now() - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        event_sources_fetch_due_task.delay()
    for s in (never, recent, stale, off):
        s.refresh_from_db()
    assert never.last_ok_at is not None and stale.last_ok_at is not None
    assert recent.last_ok_at is None and off.last_fetched_at is None
    assert never.last_created + never.last_duplicates == 2 and stale.last_created + stale.last_duplicates == 3
    assert feeds.hits.count("/rss.xml") == 1 and feeds.hits.count("/atom.xml") == 1


@pytest.mark.django_db
def test_fetch_events_command_fetches_a_named_source(feeds, capsys):
    _feed("rss", feeds.url("/rss.xml"))
    call_command("fetch_events", "--source", "rss")
    assert "rss: 2 new, 0 duplicates, 2 skipped" in capsys.readouterr().out
    assert Event.objects.count() == 2
