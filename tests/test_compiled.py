"""The entry modules' bytecode sent back by the site writer, and their import from it: which
modules are sent (install/compiled.py), how the finder imports them without reading a file
(load/compiled.py, load/modules.py), and a real host's swap through its writer."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import marshal
import py_compile
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import greet_code, ready

from pluginhost import PluginHost
from pluginhost.install.compiled import LIMIT, Compiled, entry_modules, read_compiled
from pluginhost.install.installer import install_wheel
from pluginhost.install.writer_process import WriterProcess
from pluginhost.load.compiled import CompiledLoader
from pluginhost.load.distributions import _site_dist_infos, dist_infos
from pluginhost.load.modules import PluginFinder, purge_modules
from pluginhost.model.candidate import EntryPoint
from pluginhost.testing import WheelFactory

GREET = "def greet(name):\n    return f'hello, {name}'\n"
_AUDITED: list[tuple[str, object]] = []
_WATCHED: set[int] = set()


def _audit(event: str, args: tuple[object, ...]) -> None:
    # Audit hooks stay for the whole process: this one records the watched threads' only.
    if threading.get_ident() in _WATCHED and event in {"open", "os.listdir", "os.scandir"}:
        _AUDITED.append((event, args[0] if args else None))


sys.addaudithook(_audit)


def files_touched(action: Callable[[], object]) -> list[tuple[str, object]]:
    """The files ``action`` opened and the folders it listed, on this thread."""
    _AUDITED.clear()
    _WATCHED.add(threading.get_ident())
    try:
        action()
    finally:
        _WATCHED.discard(threading.get_ident())
    return list(_AUDITED)


def pyc_of(source: str, filename: str) -> bytes:
    """A ``.pyc`` file's bytes for ``source`` compiled under ``filename``."""
    code = compile(source, filename, "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + struct.pack("<III", 0, 0, len(source))
    return header + marshal.dumps(code)


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def compile_beside(source: Path) -> None:
    """Write ``source``'s bytecode where the import looks for it."""
    py_compile.compile(str(source), doraise=True)


class TestEntryModules:
    def test_modules_with_their_parents_parents_first(self) -> None:
        eps = [
            EntryPoint("a", "pkg.sub.mod:obj"),
            EntryPoint("b", "pkg.other"),
            EntryPoint("c", " spaced.name : attr"),
        ]
        assert entry_modules(eps) == (
            "pkg",
            "pkg.sub",
            "pkg.sub.mod",
            "pkg.other",
            "spaced",
            "spaced.name",
        )

    def test_names_that_are_not_python_names_are_left_out(self) -> None:
        eps = [EntryPoint("a", "../etc:x"), EntryPoint("b", "pkg..sub"), EntryPoint("c", "ok")]
        assert entry_modules(eps) == ("ok",)


class TestReadCompiled:
    def test_package_and_module_as_a_path_finder_finds_them(self, tmp_path: Path) -> None:
        compile_beside(write(tmp_path / "pkg" / "__init__.py", "x = 1\n"))
        compile_beside(write(tmp_path / "pkg" / "sub.py", "y = 2\n"))
        compile_beside(write(tmp_path / "single.py", "z = 3\n"))
        # A package beats a module of the same name.
        compile_beside(write(tmp_path / "both" / "__init__.py"))
        compile_beside(write(tmp_path / "both.py"))
        found = read_compiled(tmp_path, ["pkg", "pkg.sub", "single", "both"], 0)
        assert [(c.module, c.path, c.is_package) for c in found] == [
            ("pkg", "pkg/__init__.py", True),
            ("pkg.sub", "pkg/sub.py", False),
            ("single", "single.py", False),
            ("both", "both/__init__.py", True),
        ]
        cached = importlib.util.cache_from_source(str(tmp_path / "pkg" / "__init__.py"))
        assert found[0].pyc == Path(cached).read_bytes()

    def test_what_another_file_would_shadow_is_not_sent(self, tmp_path: Path) -> None:
        """An extension module is imported before a source of the same name; a folder with
        no __init__.py leaves the module beside it to be imported."""
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        compile_beside(write(tmp_path / "fast.py"))
        write(tmp_path / f"fast{suffix}")
        compile_beside(write(tmp_path / "ext" / "__init__.py"))
        write(tmp_path / "ext" / f"__init__{suffix}")
        (tmp_path / "nspace").mkdir()
        compile_beside(write(tmp_path / "nspace.py"))
        (tmp_path / "onlyns").mkdir()
        found = read_compiled(tmp_path, ["fast", "ext", "nspace", "onlyns"], 0)
        assert [(c.module, c.path) for c in found] == [("nspace", "nspace.py")]

    def test_a_module_without_bytecode_is_left_out(self, tmp_path: Path) -> None:
        write(tmp_path / "raw.py", "x = 1\n")
        compile_beside(write(tmp_path / "done.py", "x = 1\n"))
        assert [c.module for c in read_compiled(tmp_path, ["raw", "done", "absent"], 0)] == ["done"]

    def test_no_more_than_the_limit(self, tmp_path: Path) -> None:
        big = "data = " + repr("x" * (LIMIT // 3)) + "\n"
        for name in ("a", "b", "c", "d"):
            compile_beside(write(tmp_path / f"{name}.py", big))
        found = read_compiled(tmp_path, ["a", "b", "c", "d"], 0)
        assert 1 <= len(found) < 4
        assert sum(len(c.pyc) for c in found) <= LIMIT


@pytest.fixture
def finder(finder: PluginFinder) -> Iterator[PluginFinder]:
    """conftest's finder; the package the tests import leaves ``sys.modules`` after each."""
    yield finder
    purge_modules(["phcomp"])


def site_with_package(root: Path, disk: str = "VALUE = 'disk'\n") -> Path:
    """A site dir holding the package ``phcomp`` (with the submodule ``phcomp.sub``),
    compiled, as the site writer leaves one."""
    init = write(root / "phcomp" / "__init__.py", disk)
    compile_beside(init)
    compile_beside(write(root / "phcomp" / "sub.py", "WHERE = 'disk'\n"))
    return init


def memory(module: str, path: str, root: Path, source: str) -> Compiled:
    """Bytecode that differs from the files: a module imported from it says so."""
    return Compiled(module, path, pyc_of(source, str(root.joinpath(*path.split("/")))))


class TestFinder:
    def test_first_import_comes_from_the_bytecode_in_hand_and_touches_no_file(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        init = site_with_package(tmp_path)
        finder.map(["phcomp"], tmp_path)
        finder.written(
            tmp_path,
            [
                memory("phcomp", "phcomp/__init__.py", tmp_path, "VALUE = 'memory'\n"),
                memory("phcomp.sub", "phcomp/sub.py", tmp_path, "WHERE = 'memory'\n"),
            ],
            (),
        )
        touched = files_touched(lambda: importlib.import_module("phcomp.sub"))
        assert touched == []
        module = sys.modules["phcomp"]
        assert module.VALUE == "memory"
        assert sys.modules["phcomp.sub"].WHERE == "memory"
        assert module.__file__ == str(init)
        assert module.__path__ == [str(init.parent)]
        assert isinstance(module.__spec__.loader, CompiledLoader)
        # Anything else comes from the files, as for any module.
        assert inspect.getsource(module) == "VALUE = 'disk'\n"

    def test_without_it_the_import_reads_the_files(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        """The contrast that makes the test above mean something."""
        site_with_package(tmp_path)
        finder.map(["phcomp"], tmp_path)
        touched = files_touched(lambda: importlib.import_module("phcomp"))
        assert any(event == "open" for event, _ in touched)
        assert sys.modules["phcomp"].VALUE == "disk"

    def test_unmapped_names_forget_their_bytecode(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        site_with_package(tmp_path)
        finder.map(["phcomp"], tmp_path)
        finder.written(
            tmp_path, [memory("phcomp", "phcomp/__init__.py", tmp_path, "VALUE = 'memory'\n")], ()
        )
        finder.unmap(["phcomp"])
        finder.map(["phcomp"], tmp_path)
        assert importlib.import_module("phcomp").VALUE == "disk"

    def test_code_compiled_under_another_file_name_is_not_used(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        """Its tracebacks would name another file: the files are read instead."""
        site_with_package(tmp_path)
        finder.map(["phcomp"], tmp_path)
        stray = Compiled("phcomp", "phcomp/__init__.py", pyc_of("VALUE = 'x'\n", "/elsewhere.py"))
        finder.written(tmp_path, [stray], ())
        assert importlib.import_module("phcomp").VALUE == "disk"

    def test_bytecode_of_another_python_is_not_used(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        site_with_package(tmp_path)
        finder.map(["phcomp"], tmp_path)
        good = memory("phcomp", "phcomp/__init__.py", tmp_path, "VALUE = 'memory'\n")
        finder.written(tmp_path, [good._replace(pyc=b"\0\0\r\n" + good.pyc[4:])], ())
        assert importlib.import_module("phcomp").VALUE == "disk"

    def test_a_package_that_moves_its_path_has_its_submodules_found_there(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        elsewhere = tmp_path / "elsewhere"
        write(elsewhere / "sub.py", "WHERE = 'elsewhere'\n")
        site = tmp_path / "site"
        site_with_package(site, f"__path__ = [{str(elsewhere)!r}]\n")
        finder.map(["phcomp"], site)
        sub = memory("phcomp.sub", "phcomp/sub.py", site, "WHERE = 'memory'\n")
        finder.written(site, [sub], ())
        assert importlib.import_module("phcomp.sub").WHERE == "elsewhere"

    def test_a_package_path_that_is_only_iterable_is_followed(
        self, finder: PluginFinder, tmp_path: Path
    ) -> None:
        """A __path__ that can be iterated but not indexed: the submodule is found by the
        import system, and the finder does not fail it."""
        site = tmp_path / "site"
        site_with_package(
            site,
            "class P:\n    def __init__(self, p): self.p = p\n"
            "    def __iter__(self): return iter(self.p)\n"
            "__path__ = P(__path__)\n",
        )
        finder.map(["phcomp"], site)
        sub = memory("phcomp.sub", "phcomp/sub.py", site, "WHERE = 'memory'\n")
        finder.written(site, [sub], ())
        assert importlib.import_module("phcomp.sub").WHERE == "memory"

    def test_tracebacks_name_the_site_file(self, finder: PluginFinder, tmp_path: Path) -> None:
        init = site_with_package(tmp_path, "def boom():\n    raise ValueError('x')\n")
        finder.map(["phcomp"], tmp_path)
        source = "def boom():\n    raise ValueError('x')\n"
        finder.written(tmp_path, [memory("phcomp", "phcomp/__init__.py", tmp_path, source)], ())
        module = importlib.import_module("phcomp")
        assert isinstance(module.__spec__.loader, CompiledLoader)
        with pytest.raises(ValueError, match="x") as raised:
            module.boom()
        text = "".join(traceback.format_exception(raised.value))
        assert f'File "{init}", line 2, in boom' in text
        assert "raise ValueError('x')" in text

    def test_only_the_last_site_dirs_are_kept(self, finder: PluginFinder, tmp_path: Path) -> None:
        site_with_package(tmp_path)
        finder.map(["phcomp"], tmp_path)
        init = memory("phcomp", "phcomp/__init__.py", tmp_path, "VALUE = 'memory'\n")
        finder.written(tmp_path, [init], ())
        for index in range(PluginFinder.KEPT):
            other = tmp_path / f"other{index}"
            finder.written(other, [memory("o", "o.py", other, "")], ())
        assert importlib.import_module("phcomp").VALUE == "disk"


class TestWriter:
    def test_the_writer_sends_back_the_entry_modules_bytecode(
        self,
        writer: WriterProcess,
        factory: WheelFactory,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Once ready, the writer answers with the bytecode it wrote for the modules asked
        for, compiled under the file names of the site dir (not of its staging dir)."""
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        ready(writer, tmp_path, factory)
        site = install_wheel(
            factory.build("hello", code=GREET),
            site_root=tmp_path / "site",
            staging_root=tmp_path / "staging",
            name="hello",
            version="1.0.0",
            write=writer,
            preload=("hello", "absent"),
        )
        sent = writer.take_compiled(site.path)
        assert [(c.module, c.path) for c in sent] == [("hello", "hello/__init__.py")]
        cached = importlib.util.cache_from_source(str(site.path / "hello" / "__init__.py"))
        assert sent[0].pyc == Path(cached).read_bytes()
        assert writer.take_compiled(site.path) == ()  # handed over once
        code = CompiledLoader("hello", str(site.path / "hello" / "__init__.py"), sent[0].pyc)
        assert code.get_code("hello") is not None
        assert code.get_code("hello").co_filename == str(site.path / "hello" / "__init__.py")  # type: ignore[union-attr]


class TestHost:
    def test_a_swapped_version_is_imported_from_the_writers_bytecode(
        self,
        make_host: Callable[..., PluginHost],
        factory: WheelFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A watching host's swap imports the new version's entry module from what its
        writer sent back, and the module names its file in the site dir."""
        monkeypatch.setattr(sys, "dont_write_bytecode", False)
        factory.build("hello", code=greet_code("v1"))
        host = make_host()
        deadline = time.monotonic() + 30
        version = 1
        while True:  # the first swaps may come before the writer is ready
            version += 1
            factory.build("hello", f"1.0.{version}", code=greet_code(f"v{version}"))
            assert host.wait_idle(20)
            assert host.hook.greet(name="x") == [f"v{version}"]
            module = sys.modules["hello"]
            if isinstance(module.__spec__.loader, CompiledLoader) or time.monotonic() > deadline:
                break
        assert isinstance(module.__spec__.loader, CompiledLoader)
        site = host.plugins["hello"].site_dir
        assert site is not None
        assert module.__file__ == str(site / "hello" / "__init__.py")
        # The dist-info dirs told for the site dir are those installer wrote there.
        assert _site_dist_infos(str(site)) == dist_infos(str(site))
        assert len(dist_infos(str(site))) == 1


class TestDistInfos:
    def test_a_written_site_is_not_listed(self, finder: PluginFinder, tmp_path: Path) -> None:
        """The dist-info dirs told for a site dir written just now are what a listing gives,
        and its distribution is found without listing it."""
        site = tmp_path / "site-told"
        write(site / "told-1.0.dist-info" / "METADATA", "Metadata-Version: 2.1\nName: told\n")
        finder.written(site, [], ["told-1.0.dist-info"])
        finder.map(["told"], site)
        touched = files_touched(lambda: _site_dist_infos(str(site)))
        assert touched == []
        assert _site_dist_infos(str(site)) == dist_infos(str(site))
        dist = next(iter(importlib.metadata.distributions(name="told")))
        assert dist.metadata["Name"] == "told"

    def test_an_untold_site_is_listed_once(self, tmp_path: Path) -> None:
        site = tmp_path / "site-untold"
        write(site / "untold-1.0.dist-info" / "METADATA", "Name: untold\n")
        first = files_touched(lambda: _site_dist_infos(str(site)))
        assert ("os.listdir", str(site)) in first
        assert files_touched(lambda: _site_dist_infos(str(site))) == []
