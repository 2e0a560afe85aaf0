"""A YAML loader for suites that cannot be turned against the machine or the user.

PyYAML's ``safe_load`` builds no objects, but it still accepts what a suite never needs and a
hostile or mistyped file exploits: aliases (a 572-byte "billion laughs" suite expands to gigabytes),
deep nesting (a RecursionError), explicit tags (``!!timestamp`` turns a name into a date), keys
that are not text (``1:`` next to ``"1":``) and duplicate keys (the last silently wins). This loader
refuses each of them with the file, line and column, and bounds the bytes it reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import UsageError

#: Suites are hand-written; even ~30k model entries stay far below this.
MAX_BYTES = 64 * 1024 * 1024
#: Deeper than any suite needs (the deepest real path is about 6), shallow enough to never recurse far.
MAX_DEPTH = 32


class YamlError(UsageError):
    """A suite file that is not the plain YAML suites are written in."""


def _where(source: str, mark: Any) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: a 27k-model suite in seconds


def _check_events(text: str, source: str) -> None:
    """One pass over the parser's events, before anything is built: aliases, tags and nesting depth."""
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent):
            raise YamlError(f"{_where(source, event.start_mark)}: YAML aliases (*{event.anchor}) are not "
                            "accepted in a suite; write the value out where it is used")
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            raise YamlError(f"{_where(source, event.start_mark)}: YAML tags ({tag}) are not accepted in a "
                            "suite; remove the tag (quote the value if it should be text)")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlError(f"{_where(source, event.start_mark)}: nested more than {MAX_DEPTH} levels "
                                "deep; a suite needs a handful")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


class _StrictLoader(_Base):
    """Safe loading that also refuses non-text and duplicate keys (naming both lines)."""

    source = "<yaml>"

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
        seen: dict[str, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise YamlError(f"{_where(self.source, key_node.start_mark)}: a key must be text, found "
                                f"{key!r:.60} ({type(key).__name__}); quote it (\"{str(key_node.value)[:60]}\":)")
            if key in seen:
                first = seen[key].line + 1
                raise YamlError(f"{_where(self.source, key_node.start_mark)}: duplicate key {key!r:.60} (first at "
                                f"line {first}); YAML would silently keep only the last one: remove one of them")
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def loads(text: str, source: str = "<yaml>") -> Any:
    """Parse one YAML document under the rules above; every refusal is a ``YamlError``."""
    try:
        _check_events(text, source)
        loader = _StrictLoader(text)
    except YamlError:
        raise
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from exc
    loader.source = source
    try:
        return loader.get_single_data()
    except YamlError:
        raise
    except yaml.YAMLError as exc:
        raise YamlError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from exc
    except RecursionError as exc:  # belt and braces: MAX_DEPTH makes this unreachable
        raise YamlError(f"{source}: nested too deeply to read") from exc
    finally:
        loader.dispose()


def load_file(path: str | Path) -> Any:
    from harness.textio import read_text

    p = Path(path)
    return loads(read_text(p, MAX_BYTES, what="suite file"), str(p))
