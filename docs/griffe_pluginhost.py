"""A griffe extension for the API reference: attrs classes and reST markup in docstrings.

pluginhost's docstrings are reST (``:param:`` fields, which griffe's sphinx parser reads), and
its value classes are attrs classes, which griffe does not know. This extension, loaded by the
mkdocstrings handler in ``mkdocs.yml`` and only there, does three things while the sources are
read statically:

- gives every ``@attrs.frozen`` / ``@attrs.define`` class the ``__init__`` signature attrs
  generates (its annotated fields, in order, with their defaults), so that the ``:param:``
  fields of its docstring match parameters;
- turns Sphinx roles (``:class:`~pluginhost.Event```) into Markdown: a cross-reference when the
  target is documented in the reference, inline code otherwise;
- turns doctest blocks (``>>>``) and reST literal blocks (``text::``) into fenced code.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

_ATTRS_DECORATORS = frozenset(
    {
        "attrs.frozen",
        "attrs.define",
        "attrs.mutable",
        "attr.s",
        "attr.attrs",
        "attr.define",
        # attrs.frozen with shared methods: the value classes of pluginhost.model use it.
        "pluginhost.model.frozen.frozen",
    }
)
_ROLE = re.compile(r":(?:class|meth|func|attr|data|mod|exc|obj):`(~?)([^`]+)`")
# Names documented in the reference, by the path they are documented under.
_DOCUMENTED_MODULES = ("pluginhost.testing", "pluginhost")


class PluginhostDocs(griffe.Extension):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._public: set[str] = set()

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path == "pluginhost":
            self._public = set(_exported(pkg))
        _walk(pkg, self._fix)

    def _fix(self, obj: griffe.Object) -> None:
        if isinstance(obj, griffe.Class) and _is_attrs(obj) and "__init__" not in obj.members:
            _add_attrs_init(obj)
        if obj.docstring is not None:
            obj.docstring.value = _markdown(obj.docstring.value, self._public)


def _exported(pkg: griffe.Module) -> list[str]:
    dunder_all = pkg.members.get("__all__")
    if dunder_all is None or not isinstance(dunder_all, griffe.Attribute):
        return []
    try:
        names = ast.literal_eval(str(dunder_all.value))
    except (ValueError, SyntaxError):
        return []
    return [name for name in names if isinstance(name, str)]


def _walk(obj: griffe.Object, fix: Any) -> None:
    fix(obj)
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            _walk(member, fix)


def _is_attrs(cls: griffe.Class) -> bool:
    for decorator in cls.decorators:
        value = decorator.value
        path = value.canonical_path if isinstance(value, griffe.Expr) else str(value)
        if path.split("(")[0] in _ATTRS_DECORATORS:
            return True
    return False


def _add_attrs_init(cls: griffe.Class) -> None:
    parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
    for member in cls.members.values():
        if member.is_alias or not isinstance(member, griffe.Attribute):
            continue
        if member.annotation is None or "property" in member.labels:
            continue
        parameters.append(
            griffe.Parameter(
                member.name.lstrip("_"),
                annotation=member.annotation,
                kind=griffe.ParameterKind.positional_or_keyword,
                default=_default(member.value),
            )
        )
    init = griffe.Function(
        "__init__",
        lineno=cls.lineno,
        endlineno=cls.lineno,
        parent=cls,
        parameters=griffe.Parameters(*parameters),
        returns="None",
    )
    cls.set_member("__init__", init)


def _default(value: str | griffe.Expr | None) -> str | griffe.Expr | None:
    """The default an attrs field gives its ``__init__`` parameter."""
    if not isinstance(value, griffe.ExprCall) or value.canonical_path not in {
        "attrs.field",
        "attr.ib",
        "attrs.Factory",
    }:
        return value
    for argument in value.arguments:
        name = getattr(argument, "name", None)
        if name == "default":
            return argument.value  # type: ignore[no-any-return]
        if name == "factory":
            return f"{argument.value}()"
    if value.canonical_path == "attrs.Factory" and value.arguments:
        return f"{value.arguments[0]}()"
    return None


def _markdown(text: str, public: set[str]) -> str:
    text = _ROLE.sub(lambda m: _role(m.group(1), m.group(2), public), text)
    return _code_blocks(text)


def _role(tilde: str, target: str, public: set[str]) -> str:
    target = target.strip()
    shown = target.rsplit(".", 1)[-1] if tilde else target
    first = target.split(".")[0]
    if first in public:
        return f"[`{shown}`][pluginhost.{target}]"
    for module in _DOCUMENTED_MODULES:
        if target.startswith(module + ".") and target[len(module) + 1 :].split(".")[0] in public:
            return f"[`{shown}`][{target}]"
    return f"`{shown}`"


def _code_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith(">>> "):
            # A doctest block runs to the next blank line.
            indent = line[: len(line) - len(stripped)]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent) :])
                i += 1
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        if line.rstrip().endswith("::") and not line.rstrip().endswith(":::"):
            # A reST literal block: "text::", a blank line, an indented block.
            head = line.rstrip()[:-2].rstrip()
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            base = len(line) - len(line.lstrip())
            block = []
            while j < len(lines) and (
                not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > base
            ):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            if block:
                cut = min(len(b) - len(b.lstrip()) for b in block if b.strip())
                if head:
                    out += [head + ":", ""]
                out += ["```", *(b[cut:] for b in block), "```", ""]
                i = j
                continue
        out.append(line)
        i += 1
    return "\n".join(out)
