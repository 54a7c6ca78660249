"""The one way LiveSec Studio calls an LLM (pure Python, no Django import).

Built on ``openai.OpenAI(base_url, api_key, max_retries=0, timeout=...)``: the SDK's own retries
are off and this module owns retries, rate limiting, caching, outcome classification and usage
recording::

    cfg = EndpointConfig(name="sim", base_url="http://127.0.0.1:8765/v1", model="sim-target-50",
                         api_key=os.environ.get("SIM_KEY", ""), max_concurrency=8,
                         requests_per_minute=600, timeout=60)
    client = LLMClient(cfg, limiter=Limiter(cfg.name, 8, 600, redis_url=...),
                       cache=my_cache, recorder=store_usage_row)
    res = client.chat([{"role": "user", "content": "..."}], temperature=0)
    if res.outcome == "ok": ...

Outcomes (``LLMResult.outcome``):

``ok``          content present, finish_reason not ``length``/content filter
``blocked``     provider refusal: finish_reason ``content_filter`` (or ``sensitive``), or an HTTP 4xx
                whose code/type/message names a content filter (``content_filter``,
                ``data_inspection_failed``, ``sensitive``, ``Content Exists Risk``, ...); not retried
``truncated``   finish_reason ``length`` (content is what arrived)
``empty``       no content after stripping (and reasoning removal)
``error``       retries exhausted (429/5xx/timeout/connection) or a non-retryable 4xx

Reasoning traces are kept apart from the content (``LLMResult.reasoning``), whichever way the
provider sends them: a ``reasoning_content`` field on the message (DeepSeek, Qwen), a ``reasoning``
field (OpenRouter), or a ``<think>...</think>`` block at the start of the content.

Parameters that ``chat.completions.create`` does not take (``reasoning={"enabled": True}``, ``top_k``,
``enable_thinking``, ...) are sent in ``extra_body``, from ``default_params`` and from the call alike.

The request goes through the SDK's documented low-level call, ``client.post("/chat/completions",
body=..., cast_to=bytes)``: the same connection pool, headers, authentication, timeouts and status
errors (``APIStatusError`` and its subclasses, ``APITimeoutError``, ``APIConnectionError``) as
``chat.completions.create``, without building the typed request and response objects, which cost
more CPU than the HTTP call itself; the JSON body is read here (:func:`_parse_completion`).

What an endpoint can make the client do is bounded (:class:`GuardedHttpClient`, the HTTP client under every
``openai.OpenAI`` built here, also when a shared pool is passed in): redirects are never followed (a 3xx is an
``error`` outcome naming the ``Location``, not retried), a reply body larger than ``max_response_bytes`` (decoded;
refused on its ``Content-Length`` before it is read) is an ``error`` outcome without retry, and a reply still
arriving after the call's timeout has passed in total is a timeout (retried like one), so a body trickled in
small pieces cannot hold a call for longer than about twice the timeout (the last read may wait one read
timeout of its own).

Retries: 408/409/429/5xx, timeouts and connection errors, at most ``max_attempts`` attempts in
total.  The wait before a retry is ``min(Retry-After, retry_after_cap)`` when the server sent
``Retry-After``/``retry-after-ms``, else full jitter ``uniform(0, min(backoff_cap,
backoff_base * 2**(attempt-1)))``.  The limiter slot is released while waiting.
"""

from __future__ import annotations

import email.utils
import hashlib
import inspect
import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import openai
from openai.resources.chat.completions import Completions

from .ratelimit import Limiter, LimiterTimeout

log = logging.getLogger(__name__)

__all__ = [
    "BLOCKED",
    "EMPTY",
    "ERROR",
    "OK",
    "OUTCOMES",
    "TRUNCATED",
    "EndpointConfig",
    "GuardedHttpClient",
    "LLMClient",
    "LLMResult",
    "ResponseDeadline",
    "ResponseTooLarge",
    "cache_key",
    "http_client",
    "request_params",
    "strip_reasoning",
]

OK, BLOCKED, TRUNCATED, EMPTY, ERROR = "ok", "blocked", "truncated", "empty", "error"
OUTCOMES = (OK, BLOCKED, TRUNCATED, EMPTY, ERROR)

RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
BLOCKED_FINISH_REASONS = frozenset({"content_filter", "sensitive", "content_filtered", "safety"})
# matched against code/type/message lower-cased with non-alphanumerics removed
_BLOCK_MARKERS = (
    "contentfilter", "contentpolicy", "contentmanagement", "datainspection", "sensitive",
    "contentexistsrisk", "inappropriate", "moderation", "responsibleaipolicy", "safetycheck",
    "不安全", "敏感", "违规", "审核",
)
_BLOCK_CODES = frozenset({"1301"})  # Zhipu: 系统检测到输入或生成内容可能包含不安全或敏感内容

# Keyword arguments ``chat.completions.create`` takes; any other parameter (``reasoning``, ``top_k``,
# ``enable_thinking``...) is a provider extension and travels in ``extra_body``.
CREATE_PARAMS = frozenset(inspect.signature(Completions.create).parameters) - {"self", "model", "messages"}


@dataclass
class EndpointConfig:
    name: str
    base_url: str
    model: str
    api_key: str = field(default="", repr=False)   # resolved by the caller (e.g. from an env var)
    max_concurrency: int = 4
    requests_per_minute: float = 60.0
    timeout: float = 60.0
    default_params: dict[str, Any] = field(default_factory=dict)
    is_reasoning: bool = False

    def fingerprint(self) -> str:
        """sha256 of what determines the model's answers: base_url, model, default params,
        reasoning flag.  Never the key; not timeouts or limits."""
        data = {
            "base_url": self.base_url.strip().rstrip("/").lower(),
            "model": self.model,
            "params": self.default_params,
            "is_reasoning": bool(self.is_reasoning),
        }
        return hashlib.sha256(_canon(data).encode("utf-8")).hexdigest()


@dataclass
class LLMResult:
    outcome: str
    content: str = ""
    finish_reason: str | None = None
    latency_ms: float = 0.0          # wall time of chat(): limiter waits, all attempts, backoff
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 0
    error: str | None = None
    cached: bool = False
    reasoning: str | None = None     # reasoning_content / reasoning field / removed <think> text, if any
    status_code: int | None = None   # HTTP status of the last attempt (None: no response)
    model: str | None = None         # model name reported by the server

    @property
    def ok(self) -> bool:
        return self.outcome == OK

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LLMResult:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def request_params(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments for ``chat.completions.create`` from parameter layers, later ones winning
    (endpoint ``default_params``, then the call's): names it accepts as they are, every other key in
    ``extra_body``, merged with the layers' own ``extra_body`` (within a layer a named key wins)."""
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for layer in layers:
        if not layer:
            continue
        given = layer.get("extra_body")
        layer_extra: dict[str, Any] = dict(given) if isinstance(given, Mapping) else {}
        for k, v in layer.items():
            if k == "extra_body":
                continue
            if k in CREATE_PARAMS:
                out[k] = v
            else:
                layer_extra[k] = v
        extra.update(layer_extra)
    if extra:
        out["extra_body"] = extra
    return out


def cache_key(fingerprint: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
    """sha256 over (endpoint fingerprint, messages, effective params)."""
    return hashlib.sha256(_canon([fingerprint, list(messages), dict(params)]).encode("utf-8")).hexdigest()


_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.S | re.I)


def strip_reasoning(text: str | None, *, orphan_close: bool = True) -> tuple[str, str | None]:
    """Remove ``<think>...</think>`` blocks. Returns (content, reasoning or None).

    An unclosed ``<think>`` (output cut off while thinking) drops everything after it; with
    ``orphan_close`` a lone ``</think>`` (template ate the opening tag) drops everything before it.
    """
    if not text:
        return "", None
    reasoning = [m.strip() for m in _THINK_BLOCK.findall(text)]
    out = _THINK_BLOCK.sub("", text)
    low = out.lower()
    if "<think>" in low:
        i = low.index("<think>")
        reasoning.append(out[i + 7:].strip())
        out = out[:i]
    elif orphan_close and "</think>" in low:
        i = low.rindex("</think>")
        reasoning.append(out[:i].strip())
        out = out[i + 8:]
    return out.strip(), ("\n\n".join(r for r in reasoning if r) or None)


def _retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
    except (TypeError, ValueError):
        pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        return max(0.0, float(ra))
    except (TypeError, ValueError):
        pass
    try:
        dt = email.utils.parsedate_to_datetime(ra)
        return max(0.0, dt.timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _norm(s: Any) -> str:
    return re.sub(r"[\W_]+", "", str(s or "").lower())


def _is_block_error(exc: openai.APIStatusError) -> bool:
    if not (400 <= exc.status_code < 500) or exc.status_code in RETRYABLE_STATUS:
        return False
    body = exc.body if isinstance(exc.body, Mapping) else {}
    code = str(getattr(exc, "code", None) or body.get("code") or "")
    if code in _BLOCK_CODES:
        return True
    text = " ".join(str(x) for x in (code, getattr(exc, "type", None) or body.get("type"),
                                     body.get("message"), exc.message) if x)
    norm = _norm(text)
    return any(m in norm for m in _BLOCK_MARKERS)


DEFAULT_MAX_RESPONSE_BYTES = 4 << 20


class ResponseTooLarge(openai.OpenAIError):
    """A reply body over the client's limit (not retried: the same request would get the same answer)."""


class ResponseDeadline(openai.APITimeoutError):
    """A reply still arriving when the call's whole timeout has passed (retried like any timeout)."""

    def __init__(self, request: Any, seconds: float) -> None:
        openai.APIConnectionError.__init__(
            self, message=f"the reply took longer than {seconds:g}s in total", request=request)


def _overall_timeout(request: Any) -> float | None:
    timeouts = request.extensions.get("timeout") or {}
    values = [float(v) for v in timeouts.values() if v is not None]
    return max(values) if values else None


class GuardedHttpClient(openai.DefaultHttpxClient):
    """The SDK's default HTTP client (its pool limits and timeouts) with the limits of the module docstring:
    never follows a redirect, reads at most ``max_response_bytes`` of a reply, and stops a reply that outlasts
    the request's timeout in total. Thread-safe like the client it extends; one can be shared by many
    ``openai.OpenAI`` instances."""

    def __init__(self, *, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, **kwargs: Any) -> None:
        kwargs["follow_redirects"] = False
        super().__init__(**kwargs)
        self.max_response_bytes = int(max_response_bytes)

    def send(self, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
        kwargs["follow_redirects"] = False
        started = time.monotonic()
        overall = _overall_timeout(request)
        response = super().send(request, stream=True, **kwargs)
        if stream:  # never asked for here; a caller that streams reads (and bounds) the body itself
            return response
        try:
            limit = self.max_response_bytes
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise ResponseTooLarge(f"the reply is {int(declared)} bytes, more than the limit of {limit}")
            body = bytearray()
            for chunk in response.iter_bytes():  # decoded: a small compressed body cannot expand past the limit
                body += chunk
                if len(body) > limit:
                    raise ResponseTooLarge(f"the reply is more than the limit of {limit} bytes")
                if overall is not None and time.monotonic() - started > overall:
                    raise ResponseDeadline(request, overall)
            if overall is not None and time.monotonic() - started > overall:
                raise ResponseDeadline(request, overall)
        except BaseException:
            response.close()
            raise
        # What Response.read() stores; the body was read above, with the limits.
        response._content = bytes(body)
        response.close()
        return response


def http_client(*, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES) -> GuardedHttpClient:
    """An HTTP client (connection pool) for LLM calls, to share between clients of one process."""
    return GuardedHttpClient(max_response_bytes=max_response_bytes)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError) and 300 <= exc.status_code < 400:
        location = exc.response.headers.get("location", "") if exc.response is not None else ""
        return f"HTTP {exc.status_code}: a redirect to {location[:300] or '(no Location)'}, not followed"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, Mapping) else {}
        msg = body.get("message") or exc.message
        code = getattr(exc, "code", None)
        return f"HTTP {exc.status_code}{f' {code}' if code else ''}: {str(msg)[:300]}"
    if isinstance(exc, openai.APITimeoutError):
        return f"timeout: {exc}"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"connection error: {cause or exc}"
    return f"{type(exc).__name__}: {exc}"




_OPTION_KEYS = {"extra_headers": "headers", "extra_query": "params", "timeout": "timeout"}


def _request_body(model: str, messages: list[dict[str, Any]], params: Mapping[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON body and the request options for ``client.post`` from :func:`request_params`' output:
    named parameters as they are, ``extra_body`` merged in (it wins, as in the SDK), ``extra_headers``,
    ``extra_query`` and ``timeout`` as request options; ``None`` values are left out."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    options: dict[str, Any] = {}
    for k, v in params.items():
        if k in _OPTION_KEYS:
            if v is not None:
                options[_OPTION_KEYS[k]] = v
        elif k != "extra_body" and v is not None:
            body[k] = v
    extra = params.get("extra_body")
    if isinstance(extra, Mapping):
        body.update(extra)
    body.pop("stream", None)  # one JSON reply per call; streaming is never asked for
    return body, options


def _content_text(content: Any) -> str:
    """A message's content as text: a string as it is, a list of parts as their texts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, Mapping))
    return ""


def _parse_completion(raw: bytes) -> dict[str, Any] | None:
    """The completion object of a reply body, or None when it is not a JSON object."""
    try:
        data = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def _reasoning_field(extra: Mapping[str, Any]) -> str | None:
    """A trace sent beside the content: DeepSeek's ``reasoning_content`` or OpenRouter's ``reasoning``
    (else the text of its ``reasoning_details``)."""
    parts = [str(extra[k]).strip() for k in ("reasoning_content", "reasoning")
             if isinstance(extra.get(k), str) and extra[k].strip()]
    if not parts and isinstance(extra.get("reasoning_details"), list):
        for d in extra["reasoning_details"]:
            if isinstance(d, Mapping):
                text = d.get("text") or d.get("summary")
                if isinstance(text, str) and text.strip():
                    parts.append(text.strip())
    return "\n\n".join(dict.fromkeys(parts)) or None


class LLMClient:
    """Thread-safe; share one per endpoint.  See the module docstring for the behaviour."""

    def __init__(self, config: EndpointConfig, limiter: Limiter | None | Any = None, cache: Any = None,
                 recorder: Callable[[dict[str, Any]], Any] | None = None, max_attempts: int = 5,
                 backoff_base: float = 0.5, backoff_cap: float = 20.0, retry_after_cap: float = 30.0,
                 sleep: Callable[[float], Any] = time.sleep, *, acquire_timeout: float | None = 600.0,
                 http_client: GuardedHttpClient | None = None, rng: random.Random | None = None,
                 max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        """``limiter=None`` builds an in-process :class:`Limiter` keyed by ``config.name`` from
        ``config.max_concurrency``/``requests_per_minute``; pass ``limiter=False`` for none.
        ``acquire_timeout`` bounds the wait for a limiter slot per attempt (None = forever).
        ``http_client`` (from :func:`http_client`, shared) or else one of the client's own with
        ``max_response_bytes``; any other HTTP client is refused, so no call escapes the limits."""
        if http_client is not None and not isinstance(http_client, GuardedHttpClient):
            raise TypeError("http_client must come from llm.client.http_client() (redirect and size limits)")
        self.config = config
        if limiter is None:
            limiter = Limiter(config.name, config.max_concurrency, config.requests_per_minute)
        self.limiter = limiter or None
        self.cache = cache
        self.recorder = recorder
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.sleep = sleep
        self.acquire_timeout = acquire_timeout
        self._rng = rng or random.Random()
        self._fingerprint = config.fingerprint()
        self._http = http_client or GuardedHttpClient(max_response_bytes=max_response_bytes)
        self._openai = openai.OpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "EMPTY",
            max_retries=0,
            timeout=config.timeout,
            http_client=self._http,
        )

    # -- helpers ----------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def cache_key(self, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> str:
        return cache_key(self._fingerprint, messages, params)

    def close(self) -> None:
        self._openai.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def backoff_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return self._rng.uniform(0, min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1))))

    def _record(self, result: LLMResult) -> None:
        if self.recorder is None:
            return
        row = {
            "endpoint": self.config.name,
            "model": self.config.model,
            "fingerprint": self._fingerprint,
            "outcome": result.outcome,
            "latency_ms": result.latency_ms,
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "attempts": result.attempts,
            "error": result.error,
            "cached": result.cached,
            "finish_reason": result.finish_reason,
            "status_code": result.status_code,
            "timestamp": time.time(),
        }
        try:
            self.recorder(row)
        except Exception:  # recording must never break a call
            log.exception("LLM usage recorder failed for endpoint %s", self.config.name)

    # -- main entry point -------------------------------------------------
    def chat(self, messages: Sequence[Mapping[str, Any]] | str, *, use_cache: bool = True,
             **params: Any) -> LLMResult:
        """One chat completion with retries/classification.  ``params`` go to
        ``chat.completions.create`` (temperature, max_tokens, seed, extra_headers, extra_body, ...)
        on top of ``config.default_params``; parameters it does not take (``reasoning={"enabled":
        True}``, ``top_k``...) go in ``extra_body`` (:func:`request_params`), and the cache key is
        over what is sent.  Never raises for API errors."""
        t0 = time.monotonic()
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        messages = [dict(m) for m in messages]
        call_params = request_params(self.config.default_params, params)
        key = self.cache_key(messages, call_params) if self.cache is not None else None

        if key is not None and use_cache:
            try:
                hit = self.cache.get(key)
            except Exception:
                log.exception("LLM cache get failed")
                hit = None
            if hit:
                res = LLMResult.from_dict(hit if isinstance(hit, Mapping) else json.loads(hit))
                res.cached = True
                res.attempts = 0
                res.latency_ms = round((time.monotonic() - t0) * 1000, 2)
                self._record(res)
                return res

        result = self._call_with_retries(messages, call_params)
        result.latency_ms = round((time.monotonic() - t0) * 1000, 2)

        if key is not None and result.outcome == OK:
            try:
                self.cache.set(key, {**result.to_dict(), "cached": False})
            except Exception:
                log.exception("LLM cache set failed")
        self._record(result)
        return result

    def _call_with_retries(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> LLMResult:
        body, options = _request_body(self.config.model, messages, params)
        attempt = 0
        last_error = "no attempt made"
        last_status: int | None = None
        while attempt < self.max_attempts:
            attempt += 1
            retry_after: float | None = None
            try:
                if self.limiter is not None:
                    with self.limiter.slot(timeout=self.acquire_timeout):
                        raw = self._openai.post("/chat/completions", body=body, options=options, cast_to=bytes)
                else:
                    raw = self._openai.post("/chat/completions", body=body, options=options, cast_to=bytes)
            except LimiterTimeout as exc:
                return LLMResult(ERROR, attempts=attempt - 1, error=f"limiter: {exc}", status_code=last_status)
            except openai.APIStatusError as exc:
                last_status = exc.status_code
                last_error = _describe(exc)
                if _is_block_error(exc):
                    return LLMResult(BLOCKED, attempts=attempt, error=last_error, status_code=last_status,
                                     finish_reason="content_filter")
                if exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500:
                    retry_after = _retry_after_seconds(exc.response.headers if exc.response is not None else None)
                else:
                    return LLMResult(ERROR, attempts=attempt, error=last_error, status_code=last_status)
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                last_status = None
                last_error = _describe(exc)
            except openai.OpenAIError as exc:  # e.g. response validation: not retryable
                return LLMResult(ERROR, attempts=attempt, error=_describe(exc), status_code=last_status)
            else:
                data = _parse_completion(raw)
                res = self._classify(data, attempt) if data is not None else None
                if res is not None:
                    return res
                last_status = 200
                last_error = "response without choices" if data is not None else "response is not a JSON object"
            if attempt < self.max_attempts:
                delay = self.backoff_delay(attempt, retry_after)
                log.info("LLM %s attempt %d/%d failed (%s); retrying in %.2fs", self.config.name, attempt,
                         self.max_attempts, last_error, delay)
                self.sleep(delay)
        return LLMResult(ERROR, attempts=attempt, status_code=last_status,
                         error=f"{last_error} (gave up after {attempt} attempts)")

    def _classify(self, data: Mapping[str, Any], attempt: int) -> LLMResult | None:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            return None  # retried
        choice = choices[0]
        msg = choice.get("message")
        msg = msg if isinstance(msg, Mapping) else {}
        raw = _content_text(msg.get("content"))
        finish = choice.get("finish_reason")
        reasoning = _reasoning_field(msg)
        content = raw
        if self.config.is_reasoning or raw.lstrip().lower().startswith("<think>"):
            content, think = strip_reasoning(raw, orphan_close=self.config.is_reasoning)
            if think:
                reasoning = f"{reasoning}\n\n{think}" if reasoning else think
        usage = data.get("usage")
        usage = usage if isinstance(usage, Mapping) else {}
        model = data.get("model")
        res = LLMResult(
            OK, content=content, finish_reason=finish, attempts=attempt, status_code=200,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            reasoning=reasoning, model=model if isinstance(model, str) else None,
        )
        if finish in BLOCKED_FINISH_REASONS:
            res.outcome, res.error = BLOCKED, f"finish_reason={finish}"
        elif finish == "length":
            res.outcome, res.error = TRUNCATED, "finish_reason=length"
        elif not content.strip():
            res.outcome, res.error = EMPTY, "empty content"
        return res


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None
