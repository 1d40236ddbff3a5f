"""Safe YAML reading for specs: no Python tags, no duplicate keys, no alias bombs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode

from hmdiag.errors import SpecError

MAX_SPEC_BYTES = 1_000_000
MAX_ALIASES = 100


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and caps alias use."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(
                    f"more than {MAX_ALIASES} YAML aliases; refusing a possible alias bomb"
                )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:  # type: ignore[override]
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise yaml.YAMLError(
                    f"line {line}: a key must be a plain word, not a list or mapping"
                ) from None
            if key in seen:
                raise yaml.YAMLError(
                    f"line {line}: duplicate key {key!r} (first defined on line {seen[key]})"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(path: Path) -> tuple[dict[str, Any], str]:
    """Read ``path`` as a YAML mapping; return it with the raw text. Raise ``SpecError``."""
    shown = str(path)
    if not path.exists():
        raise SpecError(
            shown,
            ["file not found"],
            "pass the path of a YAML spec, e.g. configs/bangladesh/mme4.yaml",
        )
    if path.is_dir():
        raise SpecError(shown, ["is a directory, not a YAML file"])
    if not path.is_file():
        # A device or pipe (/dev/zero, a FIFO) would be read forever.
        raise SpecError(shown, ["is not a regular file (a device, pipe or socket)"])
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(
                shown, [f"file is {size} bytes; specs are limited to {MAX_SPEC_BYTES} bytes"]
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(shown, [f"cannot read file: {exc.strerror or exc}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            shown, [f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"]
        ) from None
    if not text.strip():
        raise SpecError(
            shown, ["file is empty; a spec needs at least name, data, response and likelihood"]
        )
    try:
        loaded = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecError(shown, [f"invalid YAML: {where}{exc.problem or exc}"]) from None
    except yaml.YAMLError as exc:
        raise SpecError(shown, [f"invalid YAML: {exc}"]) from None
    if not isinstance(loaded, dict):
        kind = type(loaded).__name__ if loaded is not None else "nothing"
        raise SpecError(
            shown, [f"top level must be a mapping of keys (name:, data:, ...), got a {kind}"]
        )
    return loaded, text
