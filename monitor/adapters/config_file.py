"""Read a device configuration YAML file into a validated :class:`DeviceConfig`.

Errors are one :class:`ConfigError` naming the file and, for every problem found in one pass, the field, the line
and the column (``device.name (line 6, column 3): ...``): YAML syntax errors with PyYAML's problem in words, and the
validation errors of :class:`DeviceConfig` (field checks and cross-field checks together) located in the file
through the composed YAML node tree. Unquoted ``yes``/``no``/``on``/``off`` where text is expected (YAML 1.1 reads
them as booleans) get a hint to quote them. A configuration's values are not echoed, except the fixed YAML words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.domain.device import DeviceConfig
from monitor.errors import ConfigError

__all__ = ["MAX_ALIASES", "MAX_CONFIG_BYTES", "load_device_config", "parse_device_config"]

MAX_CONFIG_BYTES = 1_000_000
#: Anchors may be reused, but a handful of aliases can expand to billions of nodes ("billion laughs").
MAX_ALIASES = 64


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
#: PyYAML's token names, in words (they are grammar, not content of the file).
_TOKENS = {
    "<stream end>": "the end of the file", "<block end>": "the end of the indented block",
    "<document start>": "'---'", "<document end>": "'...'", "<scalar>": "a value", "<alias>": "an alias",
    "<anchor>": "an anchor", "<tag>": "a tag", "<block mapping start>": "an indented mapping",
    "<block sequence start>": "an indented list", "<block entry>": "a list item '-'", "?": "a key",
    "<flow mapping start>": "'{'", "<flow sequence start>": "'['",
}
_HINTS = {
    "mapping values are not allowed here": " (a ':' inside an unquoted value? quote the value, or check the indent)",
    "expected <block end>": " (an item indented differently from its neighbours?)",
    "expected ',' or ']'": " (a list opened with '[' is not closed?)",
    "expected ',' or '}'": " (a mapping opened with '{' is not closed?)",
}
_BARE_TOKEN = re.compile(r"(?<!')<(?:block end|stream end|document start|document end|block mapping start|"
                         r"block sequence start|block entry|flow mapping start|flow sequence start)>")
#: Spellings PyYAML (YAML 1.1) reads as booleans.
_YAML11_BOOLEANS = {"yes", "no", "on", "off", "true", "false", "y", "n"}


def _token(match: re.Match[str]) -> str:
    text = match.group(0)[1:-1]
    if text in _TOKENS:
        return _TOKENS[text]
    if text in ("\\t", "\t"):
        return "'\\t' (a tab: YAML indents with spaces)"
    if len(text) == 1 and not text.isalnum() and text.isprintable():
        return repr(text)
    return "(value not shown)"


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what: ``at line L, column C: <problem in words> (<context>)``, without the quoted snippet or
    quoted content of the file (a configuration value is never echoed; the line and column find it)."""
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in str(getattr(exc, "problem", "")):
        problem = "a tag that builds an object (only plain YAML values are accepted)"
    else:
        raw = str(getattr(exc, "problem", "") or "syntax error")
        problem = _BARE_TOKEN.sub(lambda m: _TOKENS[m.group(0)], _QUOTED.sub(_token, raw))
        problem += next((hint for key, hint in _HINTS.items() if raw.startswith(key)), "")
    mark = getattr(exc, "problem_mark", None)
    where = f"at line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark is not None and not _QUOTED.search(context):
        problem += f" ({context} that starts at line {context_mark.line + 1}, column {context_mark.column + 1})"
    return f"{where}{problem}".replace("\n", " ")


def _field_path(loc: Sequence[object]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int) and not isinstance(item, bool):
            parts.append(f"[{item}]")
        elif item == "[key]":
            parts.append(" (key)")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _matches(key: yaml.Node, item: object) -> bool:
    if not isinstance(key, yaml.ScalarNode):
        return False
    if isinstance(item, bool):
        return key.value.lower() in _YAML11_BOOLEANS and (key.value.lower() in ("yes", "on", "true", "y")) == item
    return key.value == str(item)


def _locate(root: yaml.Node | None, loc: Sequence[object]) -> tuple[yaml.Node | None, bool]:
    """The YAML node at pydantic location ``loc`` and whether it was reached (else the deepest node on the way:
    the mapping a required key is missing from)."""
    node = root
    for i, item in enumerate(loc):
        if node is None:
            return None, False
        if item == "[key]":
            return node, True  # the key node, found at the previous step
        nxt: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if _matches(key, item):
                    key_wanted = i + 1 < len(loc) and loc[i + 1] == "[key]"
                    nxt = key if key_wanted else value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
            nxt = node.value[item]
        if nxt is None:
            return node, False
        node = nxt
    return node, True


def _where(node: yaml.Node | None, exact: bool) -> str:
    if node is None:
        return ""
    mark = node.start_mark
    if exact:
        return f" (line {mark.line + 1}, column {mark.column + 1})"
    return f" (in the block at line {mark.line + 1})"


def _spelling(node: yaml.Node | None, value: object) -> str:
    if isinstance(node, yaml.ScalarNode):
        return node.value
    return str(value).lower()


def _validation_problems(exc: ValidationError, root: yaml.Node | None) -> list[str]:
    """One ``field (line, column): message`` per problem; booleans read from YAML 1.1 words where text is expected
    are grouped per list or mapping with a hint to quote them."""
    problems: list[str | tuple[object, ...]] = []  # text, or the key of a group of booleans at its first place
    booleans: dict[tuple[object, ...], list[tuple[str, yaml.Node | None]]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        node, exact = _locate(root, loc)
        value = err.get("input")
        if err["type"] == "string_type" and isinstance(value, bool):
            parent = loc[:-2] if loc and loc[-1] == "[key]" else loc[:-1]
            if parent not in booleans:
                problems.append(parent)
            booleans.setdefault(parent, []).append((_spelling(node, value), node))
            continue
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_type" and isinstance(value, (int, float)):
            message += " (a number here: quote it to make it text)"
        problems.append(f"{_field_path(loc)}{_where(node, exact)}: {message}")
    return [problem if isinstance(problem, str) else _boolean_problem(problem, booleans[problem])
            for problem in problems]


def _boolean_problem(parent: tuple[object, ...], words: list[tuple[str, yaml.Node | None]]) -> str:
    spelled = [w for w, _ in words]
    first = words[0][1]
    one = len(spelled) == 1
    return (f"{_field_path(parent)}{_where(first, first is not None)}: {', '.join(spelled)} "
            f"{'is' if one else 'are'} read as {'a boolean' if one else 'booleans'} (YAML 1.1), not text: "
            f"quote {'it' if one else 'them'}: {', '.join(repr(w) for w in spelled)}")


def parse_device_config(text: str, *, source: str) -> DeviceConfig:
    """Validate YAML ``text`` (safe loading: no tags that build objects; at most :data:`MAX_ALIASES` aliases);
    errors name ``source`` and every offending field with its line."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: configuration is {len(text)} characters, larger than {MAX_CONFIG_BYTES}")
    try:
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > MAX_ALIASES:
            raise ConfigError(f"{source}: {aliases} YAML aliases, more than {MAX_ALIASES} (alias expansion is "
                              "limited to refuse 'billion laughs' documents)")
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML {_yaml_problem(exc)}") from exc
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"{source}: expected a mapping at the top level, got {kind}")
    try:
        return DeviceConfig.model_validate(data)
    except ValidationError as exc:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:  # pragma: no cover - safe_load above read the same text
            root = None
        problems = _validation_problems(exc, root)
        raise ConfigError(f"{source}: invalid device configuration: " + "; ".join(problems)) from exc


def load_device_config(path: Path) -> DeviceConfig:
    """Load and validate the device configuration file at ``path``."""
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: configuration file is {size} bytes, larger than {MAX_CONFIG_BYTES}")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: configuration file is not UTF-8 text") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration file: {exc.strerror}") from exc
    return parse_device_config(text, source=str(path))
