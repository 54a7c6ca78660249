"""Event sources without the ORM: parse RSS 2.0 / Atom feeds and JSON / JSONL files into events, suggest the
dimensions an event may touch from keyword rules, and fetch a feed under the outbound-request rules.

Outbound rules (:func:`fetch_feed`): only http(s); the host must resolve to public addresses only (loopback,
private, link-local, reserved and multicast ranges are refused unless allowed by the caller, so a feed URL can
never point the fetcher at the site's own database, admin or other internal services); the reply is read by
the LLM client's :class:`~llm.client.GuardedHttpClient` (no redirect followed by the client, a size cap, an
overall deadline). A redirect to the *same* host (same scheme, or http -> https) is followed once, after the
same address check; a redirect to another host, or a second redirect, is refused.

The address check runs before the connection is made; a DNS name that changes its answer between the check and
the connect (rebinding) is not covered: allow only hosts you trust when that matters.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from curation.text import UnstorableText, check_storable, normalize

__all__ = [
    "FetchRefused", "ParseResult", "ParsedEvent", "build_rules", "check_url", "fetch_feed", "parse_feed",
    "parse_json_events", "suggest_dimensions", "title_key",
]

ATOM = "{http://www.w3.org/2005/Atom}"
MAX_TITLE = 300
MAX_URL = 1000


@dataclass
class ParsedEvent:
    title: str
    date: dt.date
    summary: str = ""
    url: str = ""
    tags: list[str] = field(default_factory=list)


@dataclass
class ParseResult:
    events: list[ParsedEvent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per entry that was skipped, naming it


class FetchRefused(Exception):
    """The feed was not fetched or its reply not accepted; the message says why (shown on the source)."""


def title_key(title: str) -> str:
    """The dedup key of an event title: NFKC, traditional -> simplified, punctuation and spaces removed."""
    return normalize(title)[:300]


# -- parsing -------------------------------------------------------------------------------------------------


def _text(value) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _parse_date(value: str, *, today: dt.date) -> dt.date:
    value = value.strip()
    if not value:
        return today
    for parse in (dt.date.fromisoformat, lambda v: dt.datetime.fromisoformat(v.replace("Z", "+00:00")).date()):
        try:
            return parse(value)
        except ValueError:
            pass
    return _rfc822(value)


def _rfc822(value: str) -> dt.date:
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"unreadable date {value[:40]!r}") from exc


def _clean_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    if len(url) > MAX_URL or urlsplit(url).scheme.lower() not in ("http", "https") or not urlsplit(url).hostname:
        raise ValueError(f"not an http(s) link: {url[:80]!r}")
    return url


def _tags(value) -> list[str]:
    if isinstance(value, str):
        value = value.replace("，", ",").split(",")
    if not isinstance(value, (list, tuple)):
        raise ValueError("tags must be a list or a comma-separated string")
    return [t.strip() for t in (_text(v) for v in value) if t.strip()]


def _build(title, date, summary, url, tags, *, today: dt.date) -> ParsedEvent:
    title = _text(title)
    if not title.strip():
        raise ValueError("no title")
    if len(title.strip()) > MAX_TITLE:
        raise ValueError(f"title longer than {MAX_TITLE} characters")
    summary = _text(summary)
    for value in (title, summary, *tags):
        check_storable(value)
    if isinstance(date, dt.date):
        day = date
    else:
        day = _parse_date(_text(date), today=today)
    return ParsedEvent(title=title, date=day, summary=summary, url=_clean_url(_text(url)), tags=tags)


def _label(index: int, title: object) -> str:
    shown = _text(title).strip()[:60]
    return f"entry {index}" + (f" ({shown!r})" if shown else "")


def parse_feed(data: bytes, *, today: dt.date) -> ParseResult:
    """RSS 2.0 ``channel/item`` or Atom ``feed/entry``; an entry without a title or with an unreadable date or
    link is reported in ``errors`` and skipped. A body that is not such a feed raises ``ValueError``."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise ValueError(f"the feed uses forbidden XML features ({type(exc).__name__})") from exc
    except SafeET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    result = ParseResult()
    if root.tag == "rss":
        channel = root.find("channel")
        items = channel.findall("item") if channel is not None else []
        for i, item in enumerate(items, 1):
            title = item.findtext("title") or ""
            try:
                tags = [t.text.strip() for t in item.findall("category") if t.text and t.text.strip()]
                result.events.append(_build(
                    title, item.findtext("pubDate") or item.findtext("{http://purl.org/dc/elements/1.1/}date") or "",
                    item.findtext("description") or "", item.findtext("link") or "", tags, today=today))
            except (ValueError, UnstorableText) as exc:
                result.errors.append(f"{_label(i, title)}: {exc}")
    elif root.tag == f"{ATOM}feed":
        for i, entry in enumerate(root.findall(f"{ATOM}entry"), 1):
            title = entry.findtext(f"{ATOM}title") or ""
            try:
                link = ""
                for el in entry.findall(f"{ATOM}link"):
                    if el.get("rel", "alternate") == "alternate" and el.get("href"):
                        link = el.get("href")
                        break
                tags = [el.get("term", "").strip() for el in entry.findall(f"{ATOM}category") if el.get("term", "").strip()]
                summary = entry.findtext(f"{ATOM}summary") or entry.findtext(f"{ATOM}content") or ""
                date = entry.findtext(f"{ATOM}published") or entry.findtext(f"{ATOM}updated") or ""
                result.events.append(_build(title, date, summary, link, tags, today=today))
            except (ValueError, UnstorableText) as exc:
                result.errors.append(f"{_label(i, title)}: {exc}")
    else:
        raise ValueError(f"not an RSS or Atom feed (root element {root.tag[:60]!r})")
    return result


def parse_json_events(text: str, *, jsonl: bool, today: dt.date) -> ParseResult:
    """A JSON list of objects, or JSONL (one object a line), each ``{title, date, summary, url, tags}``; an
    entry that is not such an object is reported and skipped. A JSON file that does not parse raises."""
    result = ParseResult()
    if jsonl:
        rows: list[tuple[int, object]] = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                result.errors.append(f"line {n}: not JSON ({exc.msg})")
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc.msg} at line {exc.lineno}") from exc
        if not isinstance(data, list):
            raise ValueError("a JSON events file must hold a list of objects")
        rows = list(enumerate(data, 1))
    for n, row in rows:
        where = f"line {n}" if jsonl else f"entry {n}"
        if not isinstance(row, Mapping):
            result.errors.append(f"{where}: not an object")
            continue
        try:
            result.events.append(_build(row.get("title"), row.get("date") or "", row.get("summary") or "",
                                        row.get("url") or "", _tags(row.get("tags") or []), today=today))
        except (ValueError, UnstorableText) as exc:
            result.errors.append(f"{where} ({_text(row.get('title')).strip()[:60]!r}): {exc}")
    return result


# -- dimension suggestion -------------------------------------------------------------------------------------


_SPLIT = str.maketrans({c: "\n" for c in "、，,。；;：:（）()/ 与和及"})


def build_rules(dimensions: Iterable[Mapping], extra: Mapping[str, Sequence[str]] | None = None
                ) -> dict[str, list[str]]:
    """Keyword rules per dimension code: its names, the terms of its description, its sub-dimensions' names,
    plus an extra keyword table. Keys are normalised (see :func:`suggest_dimensions`); short keys are dropped."""
    extra = extra or {}
    rules: dict[str, list[str]] = {}
    for d in dimensions:
        words = [d.get("name_zh", ""), d.get("name_en", ""), *(_text(d.get("description")).translate(_SPLIT).split())]
        for sub in d.get("sub_dimensions", ()):
            words += [sub.get("name_zh", ""), sub.get("name_en", "")]
        words += list(extra.get(d["code"], ()))
        keys = [normalize(w).lower() for w in words]
        rules[d["code"]] = list(dict.fromkeys(k for k in keys if len(k) >= 2 and not (k.isascii() and len(k) < 4)))
    return rules


def suggest_dimensions(text: str, rules: Mapping[str, Sequence[str]]) -> list[str]:
    """The dimension codes whose keywords occur in the text (compared normalised: width, script and case folded,
    punctuation ignored), in the rules' order."""
    key = normalize(text).lower()
    return [code for code, words in rules.items() if any(w in key for w in words)]


# -- fetching -------------------------------------------------------------------------------------------------


def _host_allowed(host: str, allow_hosts: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == h.lower().rstrip(".") for h in allow_hosts)


def check_url(url: str, *, allow_private: bool = False, allow_hosts: Iterable[str] = ()) -> None:
    """Refuse a URL that is not http(s), has credentials, or whose host resolves to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise FetchRefused(f"only http(s) URLs with a host are fetched, not {url[:100]!r}")
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are not fetched")
    host = parts.hostname
    if allow_private or _host_allowed(host, allow_hosts):
        return
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise FetchRefused(f"bad port in {url[:100]!r}") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"the host {host!r} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise FetchRefused(f"the host {host!r} resolves to a non-public address ({address}); not fetched")


def _same_host(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    scheme_ok = pa.scheme == pb.scheme or (pa.scheme == "http" and pb.scheme == "https")
    return scheme_ok and (pa.hostname or "").lower() == (pb.hostname or "").lower() and (
        pa.port == pb.port or (pa.scheme != pb.scheme and pb.port is None))


def fetch_feed(url: str, *, timeout: float, max_bytes: int, allow_private: bool = False,
               allow_hosts: Iterable[str] = ()) -> bytes:
    """The body of ``url`` under the module's outbound rules; raises :class:`FetchRefused` with the reason."""
    import httpx2 as httpx  # the HTTP library under the openai client (and GuardedHttpClient)

    from llm.client import GuardedHttpClient, ResponseDeadline, ResponseTooLarge

    allow_hosts = list(allow_hosts)
    headers = {"User-Agent": "LiveSecStudio-events/1", "Accept": "application/rss+xml, application/atom+xml, "
               "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"}
    current = url
    with GuardedHttpClient(max_response_bytes=max_bytes, timeout=httpx.Timeout(timeout), trust_env=False) as client:
        for hop in range(2):
            check_url(current, allow_private=allow_private, allow_hosts=allow_hosts)
            try:
                response = client.get(current, headers=headers)
            except ResponseTooLarge as exc:
                raise FetchRefused(f"the reply is too large: {exc}") from exc
            except (ResponseDeadline, httpx.TimeoutException) as exc:
                raise FetchRefused(f"the reply took longer than {timeout:g}s") from exc
            except httpx.HTTPError as exc:
                raise FetchRefused(f"connection error: {type(exc).__name__}: {exc}") from exc
            if response.is_redirect:
                location = urljoin(current, response.headers.get("location", ""))
                if hop == 0 and _same_host(current, location):
                    current = location
                    continue
                raise FetchRefused(f"HTTP {response.status_code}: a redirect to {location[:200]!r}, not followed "
                                   "(only one redirect to the same host is)")
            if response.status_code >= 400:
                raise FetchRefused(f"HTTP {response.status_code}")
            return response.content
    raise FetchRefused("too many redirects")  # pragma: no cover - the loop returns or raises
