"""Hypothesis strategies of hostile input: what a careless or malicious client sends to any door.

Text with NUL, control and bidi characters, lone surrogates and giant runs; numbers that overflow to
Infinity, integers past 64 bits and past Python's 4300-digit limit; JSON with duplicate keys, deep
nesting, truncation, non-UTF-8 bytes and non-finite numbers; wrong content types; bodies past the size
limit; headers carrying any of these. Everything is rendered the way it travels (percent-encoded UTF-8,
surrogates included, for URLs and forms; raw bytes for JSON), so it reaches the server as a real
request would.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import strategies as st

NASTY_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\x1b[31mred",
    "\u202egnp.exe",
    "\ufeff",
    "\r\nSet-Cookie: x=1",
    "%00",
    "%",
    "../../../etc/passwd",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "😀" * 50,
    "9" * 5000,
    "",
    " ",
    "null",
]
NASTY_NUMBERS = ["1e309", "-1e309", "NaN", "Infinity", "1" * 5000, str(2**64), str(2**63), "-1", "0", "1e-400", "1.5"]

# Any character, lone surrogates and controls included.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
# Printable but odd: passes the edge and reaches forms, serializers and queries.
odd_text = st.text(st.characters(categories=["L", "N", "P", "S", "Zs", "M"]), max_size=40)
hostile_text = st.one_of(st.sampled_from(NASTY_TEXT), odd_text, odd_text, any_text)
hostile_int = st.sampled_from([0, 1, 2**31, 2**63, 10**30, 10**40])


def encode(text: str) -> str:
    """Percent-encoded UTF-8, surrogates included (as a client that does not check would send them)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def query_string(draw) -> str:
    pairs = draw(st.lists(st.tuples(hostile_text, st.one_of(hostile_text, st.sampled_from(NASTY_NUMBERS))), max_size=3))
    named = draw(st.sampled_from(["page", "status", "q", "from", "to", "session_type", "next", "date"]))
    pairs.append((named, draw(st.one_of(hostile_text, st.sampled_from(NASTY_NUMBERS)))))
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs)


@st.composite
def json_body(draw, fields: tuple[str, ...]) -> bytes:
    """A JSON body for ``fields``: each value hostile, or the whole body broken."""
    values = {}
    for name in draw(st.lists(st.sampled_from(fields), unique=True, max_size=len(fields))):
        values[name] = draw(st.one_of(hostile_text, hostile_int, st.sampled_from([None, True, [], {}, 1.5, -1])))
    text = json.dumps(values)  # surrogates travel as \ud800 escapes, as in the issue
    raw_number = draw(st.sampled_from(NASTY_NUMBERS))
    shape = draw(st.sampled_from(["values", "raw-number", "duplicate", "deep", "very-deep", "truncated", "bytes"]))
    if shape == "raw-number":
        text = text[:-1] + (", " if values else "") + f'"n": {raw_number}' + "}"
    elif shape == "duplicate":
        text = text[:-1] + (", " if values else "") + '"session": 1, "session": 2}'
    elif shape == "deep":
        text = '{"a": ' * 40 + "1" + "}" * 40
    elif shape == "very-deep":
        text = "[" * 20000 + "]" * 20000
    elif shape == "truncated":
        text = text[: max(1, len(text) // 2)]
    elif shape == "bytes":
        return draw(st.sampled_from([b"\xff\xfe{}", b"", b"null", b"[]", b'"\\ud800"', b"{" + b"x" * (70 * 1024)]))
    return text.encode("utf-8", "surrogatepass")


@st.composite
def form_body(draw, fields: tuple[str, ...]) -> bytes:
    pairs = [(name, draw(hostile_text)) for name in draw(st.lists(st.sampled_from(fields), unique=True))]
    return "&".join(f"{encode(k)}={encode(v)}" for k, v in pairs).encode()


CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=nothing-here",
    "text/plain",
    "application/json; charset=latin-1",
    "application/xml",
    "",
]


@st.composite
def headers(draw) -> dict[str, str]:
    """Zero to two hostile headers, as Django's test client takes them (META names)."""
    names = draw(
        st.lists(
            st.sampled_from(
                [
                    "HTTP_X_FORWARDED_FOR",
                    "HTTP_AUTHORIZATION",
                    "HTTP_COOKIE",
                    "HTTP_ACCEPT_LANGUAGE",
                    "HTTP_IDEMPOTENCY_KEY",
                    "HTTP_REFERER",
                ]
            ),
            unique=True,
            max_size=2,
        )
    )
    if draw(st.integers(0, 2)):  # two in three requests carry no hostile header, and reach further
        names = []
    out = {}
    for name in names:
        # As WSGI hands headers over: the bytes sent (here UTF-8, surrogates included) read as latin-1.
        value = draw(hostile_text).encode("utf-8", "surrogatepass").decode("latin-1")
        out[name] = {"HTTP_AUTHORIZATION": "Token " + value, "HTTP_COOKIE": "sessionid=" + value}.get(name, value)
    return out
