"""Parse and check a ``POST /predict`` body before any of it reaches the model.

The body must be UTF-8 JSON of the form ``{"texts": [...]}`` with 1 to ``max_texts``
strings of at most ``max_chars`` characters (code points), each a valid Unicode scalar
string: a lone surrogate (``"\\ud800"`` in JSON) is refused here with a 422, because the
tokenizer cannot encode it and would fail the forward pass it shares with other requests.

The byte limit on the body (:func:`max_body_bytes`) is derived from the text limits as
JSON is really written: a character may take up to 12 bytes (an astral character written
as a ``\\u`` surrogate-pair escape), so a body within the text limits is never refused
for its size.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scalinglab.serve.errors import InvalidRequestError, LimitExceededError

MAX_JSON_BYTES_PER_CHAR = 12
"""The most bytes one character takes in JSON: ``\\ud83d\\ude00`` for one astral character."""

BODY_OVERHEAD_BYTES = 65_536
"""Room for JSON syntax and whitespace in the byte limit of a ``/predict`` body."""


class PredictRequest(BaseModel):
    """Body of ``POST /predict``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    texts: list[str] = Field(min_length=1, description="Texts to classify, in order.")


def max_body_bytes(max_texts: int, max_chars: int) -> int:
    """Bytes of the largest body within the text limits, every character escaped, plus
    :data:`BODY_OVERHEAD_BYTES` for the JSON around the texts."""
    return max_texts * max_chars * MAX_JSON_BYTES_PER_CHAR + BODY_OVERHEAD_BYTES


def parse_predict_body(
    body: bytes, content_type: str | None, *, max_texts: int, max_chars: int
) -> list[str]:
    """The texts of a ``/predict`` body, checked; raises the error the client gets.

    :class:`InvalidRequestError` (422) for a body that is not JSON of the right shape or
    holds a text that is not valid Unicode; :class:`LimitExceededError` (413) for too
    many texts or a text too long. Without a ``Content-Type`` the body is read as JSON.
    """
    if content_type and not _is_json(content_type):
        raise InvalidRequestError([f"Content-Type is {content_type}, not application/json"])
    texts = _validated(_json(body)).texts
    _check_limits(texts, max_texts, max_chars)
    return texts


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidRequestError(
            [f"the body is not valid UTF-8 (byte 0x{body[error.start]:02x} at byte {error.start})"]
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidRequestError(
            [
                f"the body is not valid JSON ({error.msg} at line {error.lineno} column "
                f"{error.colno})"
            ]
        ) from None
    except RecursionError:
        raise InvalidRequestError(["the body's JSON is nested too deeply"]) from None
    except ValueError:  # Python's limit on the digits of an integer
        raise InvalidRequestError(["the body's JSON holds a number with too many digits"]) from None


def _validated(document: Any) -> PredictRequest:
    try:
        return PredictRequest.model_validate(document)
    except ValidationError as error:
        raise InvalidRequestError([_describe(problem) for problem in error.errors()]) from None


def _describe(problem: Any) -> str:
    where = ".".join(["body", *(str(part) for part in problem["loc"])])
    return f"{where}: {problem['msg']}"


def _check_limits(texts: list[str], max_texts: int, max_chars: int) -> None:
    if len(texts) > max_texts:
        raise LimitExceededError(
            "max_texts_per_request",
            max_texts,
            len(texts),
            f"{len(texts)} texts in one request; the limit is {max_texts} "
            "(max_texts_per_request): split the request",
        )
    for index, text in enumerate(texts):
        if len(text) > max_chars:
            raise LimitExceededError(
                "max_chars_per_text",
                max_chars,
                len(text),
                f"text {index} has {len(text)} characters; the limit is {max_chars} "
                "(max_chars_per_text): shorten it",
            )
        _check_unicode(index, text)


def _check_unicode(index: int, text: str) -> None:
    """Refuse a text holding a surrogate code point, which no UTF-8 string can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise InvalidRequestError(
            [
                f"body.texts.{index}: lone surrogate U+{code:04X} at character {error.start} "
                "is not valid Unicode; write a character outside the BMP as a surrogate "
                "pair (\\ud83d\\ude00) or as UTF-8"
            ]
        ) from None
