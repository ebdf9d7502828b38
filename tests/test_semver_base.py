"""Tests for pluginhost/model/semver_base.py: semver's Version without semver's command line.

Each test runs in a fresh interpreter: what is imported, and in which order, is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import semver


def run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter; it prints one JSON document."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    ).stdout
    loaded: dict[str, object] = json.loads(out)
    return loaded


def test_versions_come_without_the_command_line() -> None:
    """Parsing and comparing versions imports neither argparse nor semver's command line."""
    seen = run(
        """
        import json, sys
        from pluginhost.model.versions import parse_version
        ordered = parse_version("1.2.0") > parse_version("1.2.0-rc.1")
        print(json.dumps({"ordered": ordered,
                          "loaded": [m for m in ("argparse", "semver.cli", "semver._deprecated")
                                     if m in sys.modules]}))
        """
    )
    assert seen == {"ordered": True, "loaded": []}


def test_a_submodule_imported_later_is_the_packages_attribute() -> None:
    """``import semver.version`` after pluginhost gives the package its ``version``, as any
    import of a submodule does (the package is not completed for it)."""
    seen = run(
        """
        import json, sys
        from pluginhost.model.semver_base import SemVer
        import semver.version
        print(json.dumps({"same": semver.version.Version is SemVer,
                          "argparse": "argparse" in sys.modules}))
        """
    )
    assert seen == {"same": True, "argparse": False}


def test_semver_imported_later_is_whole_and_shares_the_class() -> None:
    """An application that imports semver after pluginhost gets the whole package (its command
    line too), and its ``Version`` is the class pluginhost's versions derive from."""
    seen = run(
        """
        import json, sys
        from pluginhost.model.semver_base import SemVer
        from pluginhost.model.versions import Version
        import semver
        from semver import compare
        print(json.dumps({"same": semver.Version is SemVer,
                          "compare": compare("1.0.0", "2.0.0"),
                          "getattr": "__getattr__" in vars(semver),
                          "derived": issubclass(Version, semver.Version),
                          "cli": callable(semver.main), "version": semver.__version__,
                          "parse": str(semver.Version.parse("2.0.0-rc.1"))}))
        """
    )
    assert seen == {
        "same": True,
        "compare": -1,
        "getattr": False,
        "derived": True,
        "cli": True,
        "version": semver.__version__,
        "parse": "2.0.0-rc.1",
    }


def test_semver_imported_first_is_used_as_it_is() -> None:
    """When the application imported semver first, its class is the one taken."""
    seen = run(
        """
        import json, semver
        package = semver
        from pluginhost.model.semver_base import SemVer
        import sys
        print(json.dumps({"same": SemVer is semver.Version,
                          "kept": sys.modules["semver"] is package}))
        """
    )
    assert seen == {"same": True, "kept": True}


def test_a_thread_importing_semver_meanwhile_gets_the_whole_package() -> None:
    """A thread that imports semver while pluginhost imports ``semver.version`` gets the
    package, made whole by its first use, with the class pluginhost uses."""
    seen = run(
        """
        import json, sys, threading
        found = []
        def importer():
            import semver
            found.append([hasattr(semver, "main"), semver.Version.__module__])
        class Meanwhile:
            # Asked for semver._types while semver.version is imported, under the package
            # whose __init__ has not run: another thread imports semver at that moment.
            def find_spec(self, name, path=None, target=None):
                if name == "semver._types" and not found:
                    threads.append(threading.Thread(target=importer))
                    threads[0].start()
                    threads[0].join(0.5)  # it waits for semver.version, being imported here
                return None
        threads = []
        sys.meta_path.insert(0, Meanwhile())
        import pluginhost.model.versions
        threads[0].join()
        import semver
        print(json.dumps({"found": found,
                          "same": semver.Version is pluginhost.model.versions.SemVer}))
        """
    )
    assert seen == {"found": [[True, "semver.version"]], "same": True}
