"""A hardened YAML reader for configs and sweep files.

PyYAML's safe loader accepts duplicate keys (the last one silently wins), any input size, any
nesting depth and any number of aliases (an "alias bomb" expands a few hundred bytes into
gigabytes). :func:`load_yaml_text` refuses all four with a :class:`ConfigError` of one line, so a
careless or hostile file cannot change a run silently or exhaust the machine.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from perphedge.errors import ConfigError

MAX_YAML_BYTES = 1 << 20  # 1 MiB: the largest shipped config is a few kB
MAX_YAML_DEPTH = 32  # nested mappings/lists; real configs use 4
MAX_YAML_ALIASES = 16  # '*name' references; configs need none


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts aliases and refuses duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                mark = self.peek_event().start_mark
                raise ConfigError(
                    "",
                    f"more than {MAX_YAML_ALIASES} YAML aliases (at line {mark.line + 1}); "
                    "write the values out",
                )
        return super().compose_node(parent, index)


def _check_duplicates(loader: _Loader, node: MappingNode) -> None:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        try:
            key = loader.construct_object(key_node, deep=True)
            hash(key)
        except (TypeError, yaml.YAMLError):
            continue  # unhashable keys are reported by the constructor itself
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                "",
                f"duplicate key {key!r} at lines {seen[key]} and {line}; keep one",
            )
        seen[key] = line


def _construct_mapping(loader: _Loader, node: MappingNode) -> dict[Any, Any]:
    _check_duplicates(loader, node)
    loader.flatten_mapping(node)
    return dict(loader.construct_pairs(node, deep=False))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)  # type: ignore[arg-type]


def _guarded(tag: str, what: str) -> None:
    """Wrap the safe constructor of ``tag`` so a value it cannot build (an integer past
    Python's 4,300-digit limit, a 13th month) is a ConfigError naming its line."""
    base = yaml.SafeLoader.yaml_constructors[tag]

    def construct(loader: _Loader, node: Node) -> Any:
        try:
            return base(loader, node)
        except (ValueError, OverflowError) as exc:
            text = str(node.value)
            shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text):,} characters)"
            reason = str(exc).splitlines()[0].split(":")[0][:80]
            raise ConfigError(
                "", f"line {node.start_mark.line + 1}: {shown} is not a valid {what} ({reason})"
            ) from None

    _Loader.add_constructor(tag, construct)


_guarded("tag:yaml.org,2002:int", "number")
_guarded("tag:yaml.org,2002:float", "number")
_guarded("tag:yaml.org,2002:timestamp", "date")


def _depth_ok(node: Node, limit: int) -> bool:
    """Iterative depth check of the composed node tree (no recursion to overflow)."""
    stack: list[tuple[Node, int]] = [(node, 1)]
    seen: set[int] = set()
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return False
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, SequenceNode):
            stack.extend((child, depth + 1) for child in current.value)
        elif isinstance(current, MappingNode):
            for k, v in current.value:
                stack.extend(((k, depth + 1), (v, depth + 1)))
    return True


def _flow_depth(text: str) -> int:
    """Deepest bracket nesting of flow collections, an upper bound checked before parsing."""
    depth = best = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return best


def _indent_depth(text: str) -> int:
    """Number of distinct indentation levels, an upper bound of block nesting."""
    return len({len(line) - len(line.lstrip(" ")) for line in text.splitlines() if line.strip()})


def load_yaml_text(text: str, where: str) -> Any:
    """Parse ``text`` (from ``where``, named in errors) with the limits of this module."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_YAML_BYTES:
        raise ConfigError(
            "", f"{where} is {size:,} bytes; a config may be at most {MAX_YAML_BYTES:,}"
        )
    # bounds before parsing: PyYAML's composer recurses once per level
    if _flow_depth(text) > MAX_YAML_DEPTH or _indent_depth(text) > 4 * MAX_YAML_DEPTH:
        raise ConfigError("", f"{where}: nested more than {MAX_YAML_DEPTH} levels deep")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if not _depth_ok(node, MAX_YAML_DEPTH):
            raise ConfigError("", f"{where}: nested more than {MAX_YAML_DEPTH} levels deep")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError("", f"{where}: invalid YAML{at}: {problem}") from None
    except ValueError as exc:  # e.g. an integer past Python's 4,300-digit limit
        raise ConfigError(
            "", f"{where}: unreadable value: {str(exc).splitlines()[0][:80]}"
        ) from None
    except RecursionError:
        raise ConfigError("", f"{where}: nested more than {MAX_YAML_DEPTH} levels deep") from None
    except ConfigError as exc:  # duplicate keys, aliases: name the file
        raise with_location(exc, where) from None
    finally:
        loader.dispose()


def with_location(exc: ConfigError, where: str) -> ConfigError:
    """``exc`` with ``where`` (the file) in front of its message, when it is not named yet."""
    text = str(exc)
    return exc if where in text else ConfigError(exc.path, f"{where}: {exc.detail}")
