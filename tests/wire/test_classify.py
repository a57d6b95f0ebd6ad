"""Outcome classification: the SPEC R-33 table, R-38 Retry-After, redaction."""

from __future__ import annotations

import json

import pytest

from meshcore.events import AttemptFailed
from meshcore.types import FailureKind, OutcomeClass
from meshcore.wire.classify import (
    REFINERS,
    Classification,
    classify,
    classify_error,
    is_retryable,
    register_refiner,
    short_message,
)

OC = OutcomeClass


def http(status: int, body: object = "", headers: tuple[tuple[str, str], ...] = ()) -> AttemptFailed:
    text = body if isinstance(body, str) else json.dumps(body)
    return AttemptFailed("a", FailureKind.HTTP_STATUS, status=status, headers=headers,
                         body_excerpt=text)


def err(code: str | None = None, typ: str | None = None, message: str = "m") -> dict[str, object]:
    return {"error": {"message": message, "type": typ, "code": code}}


@pytest.mark.parametrize(("status", "body", "expected"), [
    (402, "", OC.QUOTA_EXHAUSTED),
    (429, err("insufficient_quota", "insufficient_quota"), OC.QUOTA_EXHAUSTED),
    (429, err(None, "quota_exceeded"), OC.QUOTA_EXHAUSTED),
    (429, err("billing_hard_limit_reached"), OC.QUOTA_EXHAUSTED),
    (429, err("rate_limit_exceeded", "requests"), OC.RATE_LIMITED),
    (429, "Too Many Requests", OC.RATE_LIMITED),
    (401, err("invalid_api_key"), OC.AUTH),
    (403, "", OC.AUTH),
    (404, err("model_not_found"), OC.MODEL_NOT_FOUND),
    (400, err("context_length_exceeded"), OC.CONTEXT_LENGTH_EXCEEDED),
    (400, err(None, "invalid_request_error",
              "This model's maximum context length is 8192 tokens. However, your messages "
              "resulted in 9000 tokens."), OC.CONTEXT_LENGTH_EXCEEDED),
    (413, "prompt is too long: 210000 tokens > 200000 maximum", OC.CONTEXT_LENGTH_EXCEEDED),
    (422, err(None, None, "Input is too long for requested model."), OC.CONTEXT_LENGTH_EXCEEDED),
    (400, err("content_filter"), OC.CONTENT_FILTER),
    (422, err("content_policy_violation"), OC.CONTENT_FILTER),
    (400, {"error": {"code": 400, "status": "SAFETY", "message": "blocked"}}, OC.CONTENT_FILTER),
    (413, err("content_filter"), OC.BAD_REQUEST),
    (400, err("invalid_value", message="max_tokens must be at least 1"), OC.BAD_REQUEST),
    (413, "Request Entity Too Large", OC.BAD_REQUEST),
    (422, "", OC.BAD_REQUEST),
    (408, "", OC.TIMEOUT),
    (500, "", OC.SERVER_ERROR),
    (502, "<html>bad gateway</html>", OC.SERVER_ERROR),
    (503, err("overloaded"), OC.SERVER_ERROR),
    (529, "", OC.SERVER_ERROR),
    (200, "", OC.SERVER_ERROR),
    (302, "", OC.UNKNOWN),
    (418, "", OC.UNKNOWN),
    (409, "", OC.UNKNOWN),
])
def test_r33_status_table(status: int, body: object, expected: OutcomeClass) -> None:
    assert classify(http(status, body), "openai.llm.v1").outcome is expected


@pytest.mark.parametrize(("kind", "expected"), [
    (FailureKind.TIMEOUT, OC.TIMEOUT),
    (FailureKind.TTFT_TIMEOUT, OC.TTFT_TIMEOUT),
    (FailureKind.CONNECTION, OC.CONNECTION_ERROR),
    (FailureKind.MALFORMED_BODY, OC.SERVER_ERROR),
    (FailureKind.STREAM_ERROR, OC.SERVER_ERROR),
    (FailureKind.STREAM_INCOMPLETE, OC.SERVER_ERROR),
    (FailureKind.CONTENT_BLOCKED, OC.CONTENT_FILTER),
    (FailureKind.DEADLINE, OC.TIMEOUT),
    (FailureKind.STREAM_GAP, OC.TIMEOUT),
])
def test_r33_failure_kinds(kind: FailureKind, expected: OutcomeClass) -> None:
    fact = AttemptFailed("a", kind, status=200, detail="d")
    assert classify(fact, "groq.api.v1").outcome is expected


@pytest.mark.parametrize("kind", list(FailureKind))
def test_r68_committed_is_always_stream_interrupted(kind: FailureKind) -> None:
    fact = AttemptFailed("a", kind, status=429, body_excerpt=json.dumps(err("insufficient_quota")))
    assert classify(fact, "openai.llm.v1", committed=True).outcome is OC.STREAM_INTERRUPTED


def test_r38_retry_after_from_headers_unbounded() -> None:
    c = classify(http(429, "", (("retry-after", "7"),)), "openai.llm.v1")
    assert c.retry_after_s == 7.0
    c = classify(http(503, "", (("retry-after", "9999"), ("retry-after-ms", "250"))), "x")
    assert c.retry_after_s == 0.25
    assert classify(http(429, "", (("retry-after", "later"),)), "x").retry_after_s is None


def test_codes_and_truncated_json_excerpt() -> None:
    body = json.dumps({"error": {"type": "insufficient_quota", "code": "insufficient_quota",
                                 "message": "x" * 3000}})[:2048]
    c = classify(http(429, body), "openai.llm.v1")
    assert c.outcome is OC.QUOTA_EXHAUSTED and c.code == "insufficient_quota"
    assert classify(http(400, err("context_length_exceeded")), "x").code == \
        "context_length_exceeded"


def test_message_is_short_and_redacted() -> None:
    body = err(None, None, "Incorrect API key provided: sk-proj-abcdefghijklmnop. "
               "Authorization: Bearer abc.def.ghi " + "y" * 600)
    c = classify(http(401, body), "openai.llm.v1")
    assert len(c.message) <= 300
    assert "abcdefghijklmnop" not in c.message and "abc.def.ghi" not in c.message
    assert "[redacted]" in c.message
    assert "AIzaSyA1234567890abcdef" not in short_message("key AIzaSyA1234567890abcdef")
    assert "hunter2" not in short_message('{"api_key": "hunter2"}')


def test_family_refiner_hook() -> None:
    """R-72: connectors refine the defaults (e.g. a vendor-specific status)."""
    def refine(fact: AttemptFailed, c: Classification) -> Classification:
        if fact.status == 499:
            return Classification(OC.SERVER_ERROR, c.retry_after_s, "vendor", c.message)
        return c

    old = REFINERS.get("openai")
    register_refiner("openai", refine)
    try:
        assert classify(http(499), "groq.api.v1").outcome is OC.SERVER_ERROR
        assert classify(http(499), "cohere.nlp.v1").outcome is OC.UNKNOWN
    finally:
        if old is None:
            REFINERS.pop("openai", None)
        else:
            REFINERS["openai"] = old


def test_error_classification_r72() -> None:
    ec = classify_error(http(429, "", (("retry-after", "2"),)), "openai.llm.v1")
    assert (ec.retryable, ec.category, ec.retry_after) == (True, "rate_limited", 2.0)
    assert not is_retryable(http(401), "openai.llm.v1")
    assert is_retryable(AttemptFailed("a", FailureKind.CONNECTION), "openai.llm.v1")
