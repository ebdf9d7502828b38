"""The docs hold together: nav pages exist, relative links resolve, the reference is complete.

Fast and without the docs tools (MkDocs is not a test dependency): ``tox -e docs`` builds the
site itself with warnings as errors. These tests catch the same mistakes earlier.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import attrs
import pytest
import tomli

import pluginhost

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MKDOCS_YML = ROOT / "mkdocs.yml"

# [text](target) and ![alt](target), not reference-style [text][id] cross-references.
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+).+?\1")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def nav_pages() -> list[str]:
    """The ``*.md`` files listed under ``nav:`` in mkdocs.yml (read without a YAML parser)."""
    pages: list[str] = []
    in_nav = False
    for line in MKDOCS_YML.read_text(encoding="utf-8").splitlines():
        if re.match(r"^nav:\s*$", line):
            in_nav = True
            continue
        if in_nav and re.match(r"^\S", line):
            break
        if in_nav:
            pages += re.findall(r"([\w./-]+\.md)\b", line)
    return pages


def doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown page outside fenced code blocks, with inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(_INLINE_CODE.sub("", line))
    return lines


def slugify(text: str) -> str:
    """Python-Markdown's ``toc`` slug of a heading's text (markup already removed)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    """The ids Python-Markdown gives the headings of ``page``, duplicates numbered as it does."""
    found: set[str] = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match is None:
            continue
        # Rendered text: code spans keep their content, links their text, emphasis nothing.
        text = re.sub(r"`+([^`]*)`+", r"\1", match.group(2))
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
        text = text.replace("*", "")
        slug = base = slugify(text)
        n = 0
        while slug in found:
            n += 1
            slug = f"{base}_{n}"
        found.add(slug)
    return found


def relative_links(page: Path) -> list[str]:
    links = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
                continue  # external (http:, mailto:) or absolute: not ours to check
            links.append(target)
    return links


def test_docs_exist() -> None:
    assert MKDOCS_YML.is_file()
    assert doc_files(), "docs/ has no Markdown pages"


@pytest.mark.parametrize("page", nav_pages() or ["<no nav found>"])
def test_nav_page_exists(page: str) -> None:
    assert (DOCS / page).is_file(), f"mkdocs.yml nav lists {page}, which is not in docs/"


def test_nav_lists_every_page() -> None:
    listed = set(nav_pages())
    unlisted = [p.name for p in doc_files() if p.name not in listed]
    assert not unlisted, f"pages missing from the nav of mkdocs.yml: {unlisted}"


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.is_file():
            broken.append(f"{target}: no file {linked.relative_to(ROOT)}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading with id {anchor!r} in {linked.name}")
    assert not broken, f"{page.name} has broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("name", pluginhost.__all__)
def test_reference_documents_public_name(name: str) -> None:
    reference = (DOCS / "reference.md").read_text(encoding="utf-8")
    assert re.search(rf"^::: pluginhost\.{re.escape(name)}\s*$", reference, re.MULTILINE), (
        f"reference.md has no '::: pluginhost.{name}' block"
    )


def test_slugs_match_python_markdown() -> None:
    """The slug rules above, on headings of the kinds these docs use."""
    assert slugify("7. Version policy") == "7-version-policy"
    assert slugify("The manifest: plugin.toml") == "the-manifest-plugintoml"
    assert slugify("One interpreter: a site dir isolates files, not modules") == (
        "one-interpreter-a-site-dir-isolates-files-not-modules"
    )


def _section(page: str, heading: str) -> str:
    """The text of ``page`` from ``heading`` to the next heading of any level."""
    text = (DOCS / page).read_text(encoding="utf-8")
    start = text.index(heading + "\n")
    end = re.compile(r"^#", re.MULTILINE).search(text, start + len(heading))
    return text[start : end.start() if end else len(text)]


def test_host_tutorial_lists_every_setting() -> None:
    """The options table of the host tutorial is the Settings fields, and only them, plus the
    constructor's own arguments."""
    from pluginhost.host.settings import NAMES

    table = _section("host-tutorial.md", "## 3. Every `PluginHost` option")
    listed = re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)
    own = ["settings", "sources", "manager"]
    assert listed == ["project", "specs", *NAMES[:14], *own, *NAMES[14:]]


def test_operations_config_example_has_every_key(tmp_path: Path) -> None:
    """The example configuration of the operations guide sets every key a file can hold, and
    it reads."""
    from pluginhost.host.config_file import FILE_KEYS, HostConfig
    from pluginhost.host.index_config import INDEX_KEYS
    from pluginhost.host.settings import Settings

    section = _section("operations.md", "### `run` and its configuration")
    example = re.search(r"```toml\n(.*?)```", section, re.M | re.S)
    assert example is not None
    path = tmp_path / "pluginhost.toml"
    path.write_text(example.group(1), encoding="utf-8")
    config = HostConfig.from_file(path)
    document = re.findall(r"^(\w+) =", example.group(1).split("\n[pluginhost.")[0], re.MULTILINE)
    tables = ("policy", "timeouts", "limits", "resources")
    assert sorted([*document, *tables, "index"]) == sorted(FILE_KEYS)
    (index,) = re.findall(
        r"^\[\[pluginhost\.index\]\][^\n]*\n(.*?)(?:\n\n|\Z)", section, re.M | re.S
    )
    assert tuple(re.findall(r"^(\w+) =", index, re.MULTILINE)) == INDEX_KEYS
    assert config.index[0].rollout is not None
    for table in tables:
        shown = re.search(
            rf"^\[pluginhost\.{table}\][^\n]*\n(.*?)(?:\n\n|\Z)", section, re.M | re.S
        )
        assert shown is not None, table
        keys = re.findall(r"^(\w+) =", shown.group(1), re.MULTILINE)
        fields = [f.name.rstrip("_") for f in attrs.fields(type(getattr(Settings(), table)))]
        assert keys == fields, table
    assert config.project == "greeter"


def _code_texts(text: str) -> list[str]:
    """The fenced blocks and the inline code spans of a Markdown page."""
    fenced = re.findall(r"^\s*```[^\n]*\n(.*?)^\s*```", text, re.MULTILINE | re.DOTALL)
    spans = re.findall(r"(`+)(.+?)\1", "\n".join(_outside_fences(text)))
    return [*fenced, *(span for _, span in spans)]


def _outside_fences(text: str) -> list[str]:
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


# `pluginhost COMMAND` and what follows it up to the end of the command line (a pipe, a
# comment, a shell operator), as the pages show it to be typed.
_COMMAND_LINE = re.compile(r"\bpluginhost[ \t]+([a-z]+)((?:[ \t]+(?![|;#&$>])[^\s|;#&>]+)*)")


def shown_command_options() -> list[tuple[str, str, str]]:
    """``(page, command, option)`` for each option the pages show after ``pluginhost COMMAND``."""
    from pluginhost.cli.completion import commands
    from pluginhost.cli.main import _parser

    _, found = commands(_parser())
    known = {c.name for c in found}
    shown = []
    for page in [ROOT / "README.md", *doc_files()]:
        for code in _code_texts(page.read_text(encoding="utf-8")):
            for match in _COMMAND_LINE.finditer(code):
                if match.group(1) not in known:
                    continue
                for option in re.findall(r"(?<![\w:-])(--?[A-Za-z][\w-]*)", match.group(2)):
                    shown.append((page.name, match.group(1), option))
    return shown


def test_cli_options_shown_exist() -> None:
    """Every option the pages show after ``pluginhost COMMAND`` is one that command takes."""
    from pluginhost.cli.completion import commands
    from pluginhost.cli.main import _parser

    top, found = commands(_parser())
    everywhere = {flag for option in top for flag in option.flags} | {"-h", "--help", "--debug"}
    takes = {c.name: {f for o in c.options for f in o.flags} | everywhere for c in found}
    shown = shown_command_options()
    assert len(shown) > 20, shown  # the pages show many: the pattern still finds them
    unknown = [f"{page}: pluginhost {c} {o}" for page, c, o in shown if o not in takes[c]]
    assert not unknown, "options the command does not take:\n" + "\n".join(unknown)


def test_config_error_shown_is_the_real_one(tmp_path: Path) -> None:
    """The unknown-key error the pages quote is the one a file with that key gets, key list and
    all."""
    from pluginhost.host.config_file import ConfigError, HostConfig

    bad = tmp_path / "bad.toml"
    bad.write_text('[pluginhost]\nproject = "greeter"\ntimeout = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        HostConfig.from_file(bad)
    real = str(raised.value).replace(str(bad), "/tmp/cli/bad.toml")
    for page in ("operations.md", "troubleshooting.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        assert f"pluginhost: error: {real}\n" in text, page


def test_index_map_lists_every_page() -> None:
    """The map of index.md links every other page of docs/."""
    mapped = set(
        re.findall(
            r"^\| \[[^\]]+\]\(([\w-]+\.md)\) \|", _section("index.md", "## Map of these docs"), re.M
        )
    )
    unmapped = [p.name for p in doc_files() if p.name != "index.md" and p.name not in mapped]
    assert not unmapped, f"pages missing from the map of index.md: {unmapped}"


def test_ecosystem_table_lists_every_pinned_plugin() -> None:
    """docs/hosting.md's outcome table names each plugin of tests/ecosystem/plugins.toml at its
    pinned version, and no other: a plugin pinned later was missing from it."""
    pinned = tomli.loads((ROOT / "tests" / "ecosystem" / "plugins.toml").read_text())
    wanted = {(p["app"], p["dist"], p["version"]) for p in pinned["plugin"]}
    text = (ROOT / "docs" / "hosting.md").read_text()
    begin, end = text.index("<!-- ecosystem table: begin"), text.index("<!-- ecosystem table: end")
    rows = re.findall(r"^\| (\w+) \| ([\w.-]+) \| ([\w.]+) \|", text[begin:end], re.MULTILINE)
    shown = {row for row in rows if row[0] != "application"}
    assert shown == wanted
