"""The incremental SSE parser (ARCHITECTURE "Two pure layers"; R-67 stream framing)."""

from __future__ import annotations

from _sse_reference import reference_events
from hypothesis import given, settings
from hypothesis import strategies as st

from meshcore.wire.sse import SSEEvent, SSEParser


def parse_all(data: bytes) -> list[SSEEvent]:
    p = SSEParser()
    return p.feed(data) + p.close()


def parse_split(data: bytes, cuts: list[int]) -> list[SSEEvent]:
    p = SSEParser()
    out: list[SSEEvent] = []
    start = 0
    for cut in [*sorted(set(c for c in cuts if 0 < c < len(data))), len(data)]:
        out += p.feed(data[start:cut])
        start = cut
    return out + p.close()


def test_basic_fields_and_defaults() -> None:
    evs = parse_all(b"event: ping\ndata: {}\nid: 7\nretry: 1500\n\ndata: x\n\n")
    assert evs == [SSEEvent("ping", "{}", "7", 1500), SSEEvent("message", "x", "7", None)]


def test_line_endings_lf_crlf_cr_are_equivalent() -> None:
    lf = b"data: a\ndata: b\n\nevent: e\ndata: c\n\n"
    assert parse_all(lf) == parse_all(lf.replace(b"\n", b"\r\n")) == parse_all(
        lf.replace(b"\n", b"\r"))
    assert parse_all(lf)[0].data == "a\nb"


def test_cr_lf_split_across_chunks_counts_once() -> None:
    p = SSEParser()
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\n\r") == [SSEEvent("message", "a")]
    assert p.feed(b"\ndata: b\r\n\r\n") == [SSEEvent("message", "b")]


def test_comments_blank_data_and_field_without_colon() -> None:
    evs = parse_all(b": comment\n\ndata\n\ndata:\ndata:  two spaces\n\n")
    assert evs == [SSEEvent("message", ""), SSEEvent("message", "\n two spaces")]


def test_no_event_without_data_and_unknown_fields_ignored() -> None:
    assert parse_all(b"event: x\n\nfoo: bar\n\n") == []


def test_utf8_split_inside_character() -> None:
    raw = "data: héllo ✓ 😀\n\n".encode()
    p = SSEParser()
    out: list[SSEEvent] = []
    for i in range(len(raw)):
        out += p.feed(raw[i:i + 1])
    assert out == [SSEEvent("message", "héllo ✓ 😀")]


def test_bom_stripped_even_when_split() -> None:
    raw = b"\xef\xbb\xbfdata: a\n\n"
    assert parse_split(raw, [1, 2]) == [SSEEvent("message", "a")]
    assert parse_all(raw) == [SSEEvent("message", "a")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse_all(b"data: \xff\xfe\n\n") == [SSEEvent("message", "\ufffd\ufffd")]


def test_id_with_nul_ignored_and_retry_must_be_digits() -> None:
    evs = parse_all(b"id: 1\ndata: a\n\nid: x\x00y\nretry: 1s\ndata: b\n\n")
    assert evs == [SSEEvent("message", "a", "1"), SSEEvent("message", "b", "1", None)]


def test_close_flushes_unterminated_event() -> None:
    p = SSEParser()
    assert p.feed(b"data: [DONE]") == []
    assert p.close() == [SSEEvent("message", "[DONE]")]
    assert p.close() == []


_LINES = st.sampled_from([
    b"data: {\"a\": 1}", b"data: \xc3\xa9t\xc3\xa9", b"data:", b"event: error", b": hi",
    b"id: 3", b"retry: 10", b"", b"data: [DONE]", b"\xef\xbb\xbfdata: x", b"data: \xf0\x9f\x98\x80",
])


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(_LINES, max_size=20),
    eol=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    bom=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30),
)
def test_any_chunking_gives_identical_events(
    lines: list[bytes], eol: bytes, bom: bool, cuts: list[int]
) -> None:
    """Byte-by-byte, random splits and all-at-once produce the same events."""
    data = (b"\xef\xbb\xbf" if bom else b"") + eol.join(lines) + eol
    whole = parse_all(data)
    assert parse_split(data, cuts) == whole
    assert parse_split(data, list(range(len(data)))) == whole


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=10))
def test_random_bytes_never_raise_and_chunking_invariant(data: bytes, cuts: list[int]) -> None:
    assert parse_split(data, cuts) == parse_all(data)


_PIECES = st.sampled_from([
    b"data: ", b"data:", b"event: ", b"id: ", b"retry: ", b": c", b"\n", b"\n\n", b"\r", b"\r\n",
    b"x", b"{\"a\":1}", b"\xc3\xa9", b"\xe2\x82", b"\xff", b"\xef\xbb\xbf", b" ", b"7", b"\x00",
])


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_PIECES, max_size=40), cuts=st.lists(st.integers(0, 300), max_size=12))
def test_events_equal_a_line_by_line_reference_parser(parts: list[bytes], cuts: list[int]) -> None:
    """The block-at-a-time fast paths (`data: X` and `event: E` + `data: X`
    pieces, one decode per feed) give what a plain per-line parser gives,
    for any mix of fields, line endings, broken UTF-8 and chunking."""
    body = b"".join(parts)
    expected = reference_events(body)
    assert parse_all(body) == expected
    assert parse_split(body, cuts) == expected


def test_fast_shapes_respect_pending_state_from_an_earlier_feed() -> None:
    """A piece that continues an event begun in an earlier call (data, event
    name or retry already seen) is not taken for a fresh one-line event."""
    p = SSEParser()
    assert p.feed(b"data: a\n") == []
    assert p.feed(b"data: b\n\ndata: c\n\n") == [SSEEvent("message", "a\nb"),
                                                  SSEEvent("message", "c")]
    assert p.feed(b"event: e\n") == []
    assert p.feed(b"data: d\n\n") == [SSEEvent("e", "d")]
    assert p.feed(b"retry: 5\n") == []
    assert p.feed(b"data: f\n\nevent: g\ndata: h\n\n") == [SSEEvent("message", "f", None, 5),
                                                           SSEEvent("g", "h")]
    assert p.feed(b"id: 9\n\ndata: i\n\nevent: \ndata: j\n\n") == [
        SSEEvent("message", "i", "9"), SSEEvent("message", "j", "9")]
    assert p.lines_seen == 21  # every LF ends one line


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_PIECES, max_size=40))
def test_one_read_per_event_equals_the_reference(parts: list[bytes]) -> None:
    """Reads cut right after each blank line (one event per read, what the
    direct one-event path takes) give what the reference parser gives."""
    body = b"".join(parts)
    reads = [r + b"\n\n" for r in body.split(b"\n\n")]
    reads[-1] = reads[-1][:-2]
    p = SSEParser()
    got = [ev for r in reads for ev in p.feed(r)] + p.close()
    assert got == reference_events(body)


def test_one_event_reads_keep_pending_name_and_retry() -> None:
    p = SSEParser()
    assert p.feed(b"retry: 5\n") == []
    assert p.feed(b"event: g\ndata: h\n\n") == [SSEEvent("g", "h", None, 5)]
    assert p.feed(b"event: n\n") == []
    assert p.feed(b"data: x\n\n") == [SSEEvent("n", "x")]
    assert p.feed(b"event: \ndata: y\n\n") == [SSEEvent("message", "y")]
    assert p.feed(b"data: \xff\xc3\n\n") == [SSEEvent("message", "\ufffd\ufffd")]
    assert p.lines_seen == 12
    assert p.feed(b"data: a\n") == []
    assert p.feed(b"data: b\n\n") == [SSEEvent("message", "a\nb")]
    assert p.feed(b"data: c\r\n\n") == [SSEEvent("message", "c")]
    assert p.feed(b"event: e\r\ndata: d\n\n") == [SSEEvent("e", "d")]
    assert p.feed(b"data: e\r") == []
    assert p.feed(b"\ndata: f\n\n") == [SSEEvent("message", "e\nf")]  # CR LF: one line end
    q = SSEParser()
    assert q.feed(b"data: e\r\r") == [SSEEvent("message", "e")]
    assert q.feed(b"data: f\n\n") == [SSEEvent("message", "f")]  # the CR's LF did not come
    assert q.feed(b"\n") == []
    assert q.lines_seen == 5  # ... so this LF is a (blank) line of its own
    assert q.feed(b"data: a") == []
    assert q.feed(b"data: b\n\n") == [SSEEvent("message", "adata: b")]
