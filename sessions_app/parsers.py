"""One strict JSON decoder for every door that takes JSON: the API (DRF's DEFAULT_PARSER_CLASSES) and
the M-Pesa callback (payments_app.api).

Python's json module accepts much that PostgreSQL will not store or that no honest client sends; each
of these is refused here, with a ValueError (``JSONRefused``) naming what was wrong, so a door turns it
into a 400 instead of a server error further in:

- bytes that are not UTF-8;
- NaN, Infinity and numbers that overflow to them (``1e309``);
- integers past 64 bits (``int`` columns overflow), or for the API past MAX_DIGITS digits;
- lone surrogates (``"\\ud800"``: not encodable as UTF-8, refused by jsonb) and NUL (``"\\u0000"``:
  refused by text and jsonb), in keys and values;
- the same key twice in one object (which one wins differs between parsers);
- nesting deeper than MAX_DEPTH.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

MAX_DEPTH = 32
MAX_INT = 2**63 - 1
MAX_DIGITS = 100  # without the 64-bit bound (the API's serializers check ranges): still no giant numbers
# A lone surrogate (what json makes of "\ud800" with no partner) or a NUL.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONRefused(ValueError):
    """The body is not JSON this project accepts. ``str(exc)`` says why without echoing the input;
    ``field`` is the dotted path of the offending value when it is known (``notes``, ``items.0.name``)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


def _refuse_constant(name: str):
    raise JSONRefused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused("a number is too large")
    return value


def _int_parser(bounded: bool):
    def parse(text: str) -> int:
        # The length test first: int() of thousands of digits is slow (and past 4300 digits refused).
        digits = len(text.lstrip("-"))
        if digits > (19 if bounded else MAX_DIGITS):
            raise JSONRefused("an integer is too large")
        value = int(text)
        if bounded and not -MAX_INT - 1 <= value <= MAX_INT:
            raise JSONRefused("an integer is too large")
        return value

    return parse


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise JSONRefused("a key appears twice in one object")
    return result


def _unstorable(text: str) -> str | None:
    match = UNSTORABLE.search(text)
    if match is None:
        return None
    if match.group() == "\x00":
        return "Null characters are not allowed."
    return f"Surrogate characters are not allowed: U+{ord(match.group()):X}."


def _check(value: Any) -> None:
    """Depth and strings, iteratively (a recursive walk would hit the recursion limit itself)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise JSONRefused(f"nested deeper than {MAX_DEPTH} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (problem := _unstorable(key)):
                    raise JSONRefused(f"a key: {problem}", path or "non_field_errors")
                stack.append((child, depth + 1, name))
        elif isinstance(item, str) and (problem := _unstorable(item)):
            raise JSONRefused(problem, path or "non_field_errors")


def loads(raw: bytes | str, *, bound_ints: bool = True) -> Any:
    """Decode ``raw`` (UTF-8 bytes, or text) strictly; raise JSONRefused for anything listed above.

    ``bound_ints=False`` (the API, whose serializers check every number's range) allows integers past
    64 bits, up to MAX_DIGITS digits."""
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONRefused("the body is not UTF-8") from None
    else:
        text = raw
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_int_parser(bound_ints),
            object_pairs_hook=_unique_keys,
        )
    except JSONRefused:
        raise
    except RecursionError:
        raise JSONRefused(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # json.JSONDecodeError included
        raise JSONRefused(f"not valid JSON ({exc.__class__.__name__})") from None
    _check(value)
    return value


class StrictJSONParser(parsers.JSONParser):
    """DRF's JSON parser with the size limit of DATA_UPLOAD_MAX_MEMORY_SIZE (413) and ``loads`` above (400).

    DRF reads the request stream itself, so Django's own size limit never applies to the API.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        from .api.errors import RequestTooLarge

        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        if limit is not None and request is not None:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            if declared > limit:
                raise RequestTooLarge()
        if stream is None:
            raise exceptions.ParseError("The body is empty; send a JSON object.")
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge()
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise exceptions.UnsupportedMediaType(media_type, "Send JSON as UTF-8.")
        try:
            return loads(raw, bound_ints=False)
        except JSONRefused as exc:
            if exc.field:  # a string the database could not hold: named like a serializer would name it
                raise exceptions.ValidationError({exc.field: [str(exc)]}) from None
            raise exceptions.ParseError(f"The body is not acceptable JSON: {exc}.") from None
