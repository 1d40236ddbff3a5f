"""Pydantic validation errors as one clear line per key, in the user's own key names.

Pydantic's locations carry internal tags (``function-after[...]``, union branch names); these
helpers follow the raw input to keep only the user's keys, add a did-you-mean for unknown
keys and literal values, and merge a union's alternatives into one line.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError


def _model_for_location(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Which pydantic model a location's last key belongs to (for did-you-mean)."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _user_loc(raw: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The parts of a pydantic location that are the user's keys and indexes.

    Pydantic adds tags such as ``function-after[...]`` or a model name for union branches;
    following the raw input tells them apart from keys that look alike.
    """
    kept: list[Any] = []
    node = raw
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            kept.append(part)
            node = node[part]
        elif i == len(loc) - 1 and isinstance(node, dict):
            kept.append(part)  # a missing or unknown key at this level
    return tuple(kept)


def describe_error(
    error: dict[str, Any],
    raw: Any,
    root: type[BaseModel],
    choices: dict[str, tuple[str, ...]],
) -> str:
    """``where: what is wrong`` for one pydantic error (``raw`` None: keep pydantic's location)."""
    loc = _user_loc(raw, tuple(error["loc"])) if raw is not None else tuple(error["loc"])
    where = _format_loc(loc)
    kind = error["type"]
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        model = _model_for_location(root, loc)
        allowed = list(model.model_fields) if model else []
        close = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else "."
        valid = f" Valid keys here: {', '.join(allowed)}." if allowed else ""
        return f"{where}: unknown key{suggestion}{valid}"
    if kind == "missing":
        return f"{where}: required key is missing"
    if kind == "literal_error":
        key = str(loc[-1]) if loc else ""
        allowed_values = choices.get(key)
        given = error.get("input")
        if allowed_values:
            close = difflib.get_close_matches(str(given), allowed_values, n=1)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            return f"{where}: {given!r} is not supported{suggestion}; must be one of: {', '.join(allowed_values)}"
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    if kind not in ("value_error", "assertion_error") and isinstance(
        given, str | int | float | bool
    ):
        message += f", got {given!r}"
    return f"{where}: {message}"


def validation_problems(
    exc: ValidationError, raw: Any, root: type[BaseModel], choices: dict[str, tuple[str, ...]]
) -> list[str]:
    """One line per user key of a failed ``root.model_validate(raw)``: the key's location as
    the user wrote it, what is wrong, and what would be valid (``choices``: the allowed values
    of literal fields by key). Alternatives of a union (``str | int``) merge into one line."""
    by_key: dict[str, list[str]] = {}
    for error in exc.errors():
        line = describe_error(error, raw, root, choices)
        where, _, message = line.partition(": ")
        by_key.setdefault(where, [])
        if message not in by_key[where]:
            by_key[where].append(message)
    lines = []
    for where, messages in by_key.items():
        if len(messages) == 1:
            lines.append(f"{where}: {messages[0]}" if where else messages[0])
            continue
        given = next((m.rsplit(", got ", 1)[1] for m in messages if ", got " in m), None)
        wants = [m.rsplit(", got ", 1)[0].removeprefix("Input should be ") for m in messages]
        got = f", got {given}" if given else ""
        lines.append(f"{where}: should be {' or '.join(dict.fromkeys(wants))}{got}")
    return lines
