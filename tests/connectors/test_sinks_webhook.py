"""`modelmesh.webhook.v1` against a loopback HTTP receiver (SPEC R-96, R-98)."""

from __future__ import annotations

import time

import pytest
from _obs_helpers import MSG, config_for, receiver

from adapters import create
from adapters.fake_provider import FakeProviderServer
from adapters.observability import WebhookSink
from adapters.observability.webhook import WebhookError


def test_batches_are_posted_as_json_arrays_r96() -> None:
    with receiver() as rcv:
        sink = WebhookSink(rcv.url, headers={"X-Team": "ops"}, batch_size=2)
        for i in range(5):
            sink.write({"type": "trace", "i": i})
        assert [len(b) for b in rcv.bodies] == [2, 2]
        sink.close()  # sends the partial batch
        assert [len(b) for b in rcv.bodies] == [2, 2, 1]
        assert [r["i"] for r in rcv.records()] == [0, 1, 2, 3, 4]
        assert rcv.methods == ["POST"] * 3
        assert rcv.headers[0]["content-type"] == "application/json"
        assert rcv.headers[0]["x-team"] == "ops"


def test_put_and_content_type_r96() -> None:
    with receiver() as rcv:
        sink = WebhookSink(rcv.url, method="PUT", content_type="application/x-ndjson")
        sink.write({"type": "log"})
        sink.close()
        assert rcv.methods == ["PUT"]
        assert rcv.headers[0]["content-type"] == "application/x-ndjson"


def test_retries_with_exponential_backoff_r96() -> None:
    waits: list[float] = []
    with receiver(statuses=[503, 500, 200]) as rcv:
        sink = WebhookSink(rcv.url, retry_count=3, sleep=waits.append)
        sink.write({"type": "event"})
        assert rcv.hits == 3 and len(rcv.bodies) == 1
        assert waits == [1.0, 2.0]  # exponential backoff from 1 s
        sink.close()


def test_gives_up_after_retry_count_r96() -> None:
    waits: list[float] = []
    with receiver(statuses=[500]) as rcv:
        sink = WebhookSink(rcv.url, retry_count=2, sleep=waits.append)
        with pytest.raises(WebhookError, match="3 attempt"):
            sink.write({"type": "event"})
        assert rcv.hits == 3 and waits == [1.0, 2.0]
        sink.close()


def test_client_delivers_off_the_request_path_r98() -> None:
    with receiver(delay=1.5) as rcv, FakeProviderServer() as srv:
        obs = {"connector": "modelmesh.webhook.v1", "url": rcv.url, "batch_size": 1,
               "streams": ["logs"]}
        client = create(config=config_for(srv, observability=obs), seed=1)
        started = time.monotonic()
        for _ in range(2):
            client.chat.completions.create(model="chat", messages=MSG)
        assert time.monotonic() - started < 1.0  # a slow receiver delays no request
        rcv.event.set()
        client.close()  # drains the sink-delivery worker
        assert [r["type"] for r in rcv.records()] == ["log", "log"]


def test_unreachable_webhook_never_fails_requests_r98() -> None:
    got: list[dict[str, object]] = []
    with FakeProviderServer() as srv:
        obs = [{"connector": "modelmesh.webhook.v1", "url": "http://127.0.0.1:9/none",
                "retry_count": 0, "timeout": "1s"},
               {"connector": "modelmesh.callback.v1", "callback": got.append}]
        with create(config=config_for(srv, observability=obs), seed=1) as client:
            resp = client.chat.completions.create(model="chat", messages=MSG)
            assert resp.choices[0].message.content == "Hello from m0"
    errs = [r for r in got if r["type"] == "trace" and r.get("severity") == "error"]
    assert errs and "webhook" in str(errs[0]["message"]) + str(errs[0]["error"])
