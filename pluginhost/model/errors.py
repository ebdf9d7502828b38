"""The one exception tree of pluginhost.

Every error a user can meet is a :class:`PluginHostError`; leaves also subclass the builtin that
fits, so ``except ValueError`` keeps working for code that does not know pluginhost::

    PluginHostError
    ├── ManifestError (ValueError)          a plugin.toml or its metadata is unusable
    │   └── VersionError                    a version or constraint string cannot be parsed
    │       └── UnorderableVersionError     a constraint cannot order a version (an epoch)
    ├── WheelError (ValueError)             a wheel is refused before anything is written
    ├── TrustError (PermissionError)        a folder, wheel, trust or config file fails the
    │                                       trust policy
    ├── InstallError (OSError)              installing a valid wheel failed on the filesystem
    ├── StoreError (OSError)                a stored document (the registry) has no usable copy,
    │                                       or the filesystem refused a write
    ├── SettingsError (ValueError)          a host setting has a value it cannot take (.key)
    ├── ResolutionError                     requirements cannot be met (.missing, .cycle,
    │   │                                   .requirement)
    │   └── DependencyConflictError         no one version of a third-party dependency meets
    │                                       every plugin's Requires-Dist (.needs, .available)
    ├── ActivationError (RuntimeError)      import, registration or a lifecycle hook failed
    │   └── PluginLoadError                 a process plugin's worker could not load it
    │                                       (.remote_traceback)
    ├── PluginCrashedError (RuntimeError)   a process plugin's worker died during the call,
    │                                       or is restarting (.limit)
    ├── PluginTimeoutError (TimeoutError)   a call into a process plugin passed its deadline
    ├── RemotePluginError                   a process plugin's code raised in its worker
    │                                       (.type_name, .message, .remote_traceback); for a
    │                                       builtin type, also an instance of that type
    ├── CodecError (TypeError)              a value cannot cross to or from a worker process
    │                                       (.hook, .argument, .type_name)
    ├── BuildError (RuntimeError)           a PEP 517 backend failed to build a plugin wheel
    ├── CallError (ValueError)              a hook call asked of the host names no hook it
    │                                       has, or arguments its spec does not take
    ├── HostStateError (RuntimeError)       the host was used in a state that does not allow it
    └── PackageIndexError                   a package index could not be used (.url)
        ├── IndexUnavailableError (OSError) down, timeout, 5xx, TLS, a refused redirect
        ├── IndexResponseError (ValueError) garbage: bad JSON or HTML, a wrong content type
        └── IndexHashError (ValueError)     a download does not match the index's sha256

Errors carry structured attributes (``.reason``, ``.plugin``, ``.path``) besides their message, so
that events and the CLI can report them without parsing text.
"""

from __future__ import annotations

import builtins
import os
from typing import Any

from .problems import Requirement


class PluginHostError(Exception):
    """Root of every error raised by pluginhost.

    :param reason: what went wrong, as one sentence.
    :param plugin: the plugin concerned, when known.
    :param path: the file concerned (a wheel, a manifest), when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.reason = reason
        self.plugin = plugin
        self.path = os.fspath(path) if path is not None else None
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.path:
            where.append(self.path)
        if self.plugin and not _names(self.reason, self.plugin):
            where.append(f"plugin {self.plugin!r}")
        return ": ".join([*where, self.reason])

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only attributes would be lost by the default pickling of exceptions.
        return (_rebuild, (type(self), self.__dict__.copy()))


def _names(reason: str, plugin: str) -> bool:
    """Whether ``reason`` already names ``plugin``: its message then says it once."""
    quoted = repr(plugin)
    return (
        f"plugin {quoted}" in reason
        or f"plugin named {quoted}" in reason
        or reason.startswith(f"{plugin} ")
    )


def _rebuild(cls: type[PluginHostError], state: dict[str, object]) -> PluginHostError:
    err = cls.__new__(cls)
    err.__dict__.update(state)
    Exception.__init__(err, err._message())
    return err


class ManifestError(PluginHostError, ValueError):
    """A plugin's manifest (``plugin.toml``) or metadata is unusable.

    :param key: the dotted manifest key at fault (``plugin.requires.hello``), when one is.
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        path: str | os.PathLike[str] | None = None,
        key: str | None = None,
    ) -> None:
        self.key = key
        super().__init__(reason, plugin=plugin, path=path)

    def _message(self) -> str:
        base = super()._message()
        return f"{base} (key {self.key!r})" if self.key else base


class VersionError(ManifestError):
    """A version or a version constraint cannot be parsed."""


class UnorderableVersionError(VersionError):
    """An npm/Cargo style constraint (``plugin.toml``) meets a PEP 440 version it cannot order:
    one with an epoch (``1!2.0``), which sorts above every version without one.

    :param version: the version, as its distribution writes it.
    """

    def __init__(self, reason: str, *, plugin: str | None = None, version: str) -> None:
        self.version = version
        super().__init__(reason, plugin=plugin)


class SettingsError(PluginHostError, ValueError):
    """A host setting (a :class:`~pluginhost.Settings` field) has a value it cannot take.

    :param key: the setting at fault (``keep_backups``).
    """

    def __init__(self, reason: str, *, key: str) -> None:
        self.key = key
        super().__init__(reason)

    def _message(self) -> str:
        return f"{self.key} {self.reason}"


class WheelError(PluginHostError, ValueError):
    """A wheel is refused: malformed, lying about its contents, or unfit for this interpreter."""


class TrustError(PluginHostError, PermissionError):
    """A watched folder, a wheel, the home, the trust file or the configuration file fails the
    trust policy.

    Nothing of a refused wheel is read beyond its file's owner, mode and hash.
    """


class InstallError(PluginHostError, OSError):
    """Installing a wheel that passed validation failed on the filesystem."""


class StoreError(PluginHostError, OSError):
    """A stored document cannot be read or written safely.

    Raised rather than returning data that may be wrong; ``.path`` is the document's main file.
    """


class ResolutionError(PluginHostError):
    """Requirements between plugins cannot be met.

    :param missing: names of required plugins that are not available.
    :param cycle: the members of a dependency cycle, in cycle order.
    :param requirement: the requirement that is not met, as fields (who requires what, the
        constraint, the versions at hand), when one requirement is the cause.
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        path: str | os.PathLike[str] | None = None,
        missing: tuple[str, ...] = (),
        cycle: tuple[str, ...] = (),
        requirement: Requirement | None = None,
    ) -> None:
        self.missing = missing
        self.cycle = cycle
        self.requirement = requirement
        super().__init__(reason, plugin=plugin, path=path)


class DependencyConflictError(ResolutionError):
    """No single version of a third-party dependency meets what the plugins require of it.

    :param distribution: the dependency (its normalized name).
    :param needs: who needs what, as ``(plugin, requirement)`` pairs (``("anthropic 1.0.0",
        "opentelemetry-api>=1.20")``; a plugin whose distribution has another name is shown
        as both, ``"pytest-memray (memray) 1.11.0"``).
    :param available: the versions at hand, as ``(version, where)`` pairs (``where`` is
        ``environment``, a wheel path, or a refusal).
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        path: str | os.PathLike[str] | None = None,
        distribution: str = "",
        needs: tuple[tuple[str, str], ...] = (),
        available: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.distribution = distribution
        self.needs = needs
        self.available = available
        super().__init__(reason, plugin=plugin, path=path, missing=(distribution,))


class ActivationError(PluginHostError, RuntimeError):
    """Importing, registering or running a lifecycle hook of a plugin failed.

    :param step: the step that failed (``import``, ``register``, ``activate``, ...).
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        path: str | os.PathLike[str] | None = None,
        step: str = "activate",
    ) -> None:
        self.step = step
        super().__init__(reason, plugin=plugin, path=path)


class BuildError(PluginHostError, RuntimeError):
    """A PEP 517 build backend failed to build a wheel from a plugin's source tree."""


class CallError(PluginHostError, ValueError):
    """``host.call_each()`` (or ``pluginhost call``) named a hook the host has no spec for, a
    lifecycle hook, or arguments that the hook's spec does not take.

    :param hook: the hook named.
    """

    def __init__(self, reason: str, *, hook: str) -> None:
        self.hook = hook
        super().__init__(reason)


class HostStateError(PluginHostError, RuntimeError):
    """The host was asked for something its current state does not allow."""


class PackageIndexError(PluginHostError):
    """A package index (the simple repository API) could not be used.

    :param url: the URL asked for, printed without its userinfo so that a password never reaches
        a message, a log or an event.
    :param plugin: the project concerned (the one whose page failed), when one is; escaped
        (``'a\\x00b'``) when the index names it with characters a message must not hold.
    """

    def __init__(self, reason: str, *, url: str, plugin: str | None = None) -> None:
        self.url = without_userinfo(url)
        super().__init__(reason, plugin=plugin)

    def _message(self) -> str:
        # Quoted, not repr(): a name from an index's listing comes escaped already.
        project = f"project '{self.plugin}': " if self.plugin else ""
        return f"{self.url}: {project}{self.reason}"


class IndexUnavailableError(PackageIndexError, OSError):
    """The index did not answer usefully: down, too slow, a 5xx, a TLS failure, or a redirect to
    another host that the settings do not allow. Nothing is concluded from it about any project."""


class IndexResponseError(PackageIndexError, ValueError):
    """The index answered with something that is not a page of the simple API: bad JSON or HTML,
    a wrong content type, a page past the size cap."""


class IndexHashError(PackageIndexError, ValueError):
    """A downloaded file does not match the sha256 the index gave for it; nothing is kept."""


def without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``: what an error may print."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"


class PluginLoadError(ActivationError):
    """A process plugin's worker could not load it: an import failed, or it declares a hook
    wrapper, which cannot cross a process boundary.

    :param remote_traceback: the traceback text from the worker, when code raised there.
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        path: str | os.PathLike[str] | None = None,
        step: str = "import",
        remote_traceback: str = "",
    ) -> None:
        self.remote_traceback = remote_traceback
        super().__init__(reason, plugin=plugin, path=path, step=step)


class PluginCrashedError(PluginHostError, RuntimeError):
    """A process plugin's worker died during the call (or before it), or is restarting.

    :param limit: the resource limit the worker hit (``memory_mb``, ``open_files``, ...), if one.
    """

    def __init__(self, reason: str, *, plugin: str | None = None, limit: str | None = None) -> None:
        self.limit = limit
        super().__init__(reason, plugin=plugin)


class PluginTimeoutError(PluginHostError, TimeoutError):
    """A call into a process plugin passed its deadline; the worker was killed.

    :param hook: the hook called.
    :param timeout: the deadline, in seconds.
    """

    def __init__(
        self, reason: str, *, plugin: str | None = None, hook: str = "", timeout: float = 0.0
    ) -> None:
        self.hook = hook
        self.timeout = timeout
        super().__init__(reason, plugin=plugin)


class RemotePluginError(PluginHostError):
    """A process plugin's code raised in its worker.

    Build one with :meth:`from_remote`: for a builtin exception type (``ValueError``,
    ``KeyError``, ...) it gives an instance of a subclass of both this class and that type, so
    that ``except ValueError`` keeps working across the process boundary.

    :param type_name: the qualified name of the exception's type in the worker.
    :param message: ``str()`` of the exception in the worker.
    :param remote_traceback: the traceback text from the worker.
    :param hook: the hook called, when the error came from a hook call.
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        type_name: str = "",
        message: str = "",
        remote_traceback: str = "",
        hook: str | None = None,
    ) -> None:
        self.type_name = type_name
        self.message = message
        self.remote_traceback = remote_traceback
        self.hook = hook
        self._builtin = False
        super().__init__(reason, plugin=plugin)

    @classmethod
    def from_remote(
        cls,
        type_name: str,
        message: str,
        remote_traceback: str,
        *,
        plugin: str | None = None,
        hook: str | None = None,
        builtin: bool = False,
    ) -> RemotePluginError:
        """The error to raise in the host for an exception raised in a worker.

        :param builtin: whether ``type_name`` names a type of the ``builtins`` module.
        """
        where = f" in hook {hook!r}" if hook else ""
        reason = f"{type_name}{where}: {message}" if message else f"{type_name}{where}"
        kind = _remote_type(type_name) if builtin else cls
        error = kind(
            reason,
            plugin=plugin,
            type_name=type_name,
            message=message,
            remote_traceback=remote_traceback,
            hook=hook,
        )
        error._builtin = builtin
        return error

    def __reduce__(self) -> tuple[object, ...]:
        # The builtin-typed subclasses are made at run time: pickled by what makes them.
        state = self.__dict__.copy()
        return (_rebuild_remote, (state,))


def _rebuild_remote(state: dict[str, Any]) -> RemotePluginError:
    error = RemotePluginError.from_remote(
        state["type_name"],
        state["message"],
        state["remote_traceback"],
        plugin=state["plugin"],
        hook=state["hook"],
        builtin=state.get("_builtin", False),
    )
    error.__dict__.update(state)
    return error


_REMOTE_TYPES: dict[str, type[RemotePluginError]] = {}


def _remote_type(type_name: str) -> type[RemotePluginError]:
    """The cached subclass of :class:`RemotePluginError` and the builtin ``type_name``, or the
    plain class when that builtin cannot be mixed in (it takes other constructor arguments)."""
    known = _REMOTE_TYPES.get(type_name)
    if known is not None:
        return known
    found = getattr(builtins, type_name, None)
    if not (isinstance(found, type) and issubclass(found, Exception)):
        # Not cached: the names come from the worker, and one naming a new type at each call
        # (480 MiB of names after 60 calls) would grow the cache without end.
        return RemotePluginError
    kind: type[RemotePluginError] = RemotePluginError
    try:
        kind = type(f"Remote{type_name}", (RemotePluginError, found), {})
        kind("probe", type_name=type_name)
    except TypeError:
        kind = RemotePluginError
    else:
        kind.__module__ = "pluginhost"
    _REMOTE_TYPES[type_name] = kind  # one per builtin exception type at most
    return kind


class CodecError(PluginHostError, TypeError):
    """An argument or a result cannot cross to or from a worker process.

    :param hook: the hook called.
    :param argument: the argument's name, or ``"result"``; with the place inside it
        (``items[2]['key']``) when the value is nested.
    :param type_name: the type that cannot be carried.
    """

    def __init__(
        self,
        reason: str,
        *,
        plugin: str | None = None,
        hook: str = "",
        argument: str = "",
        type_name: str = "",
    ) -> None:
        self.hook = hook
        self.argument = argument
        self.type_name = type_name
        super().__init__(reason, plugin=plugin)


# Public errors go by their public name (``pluginhost.WheelError``) in events, tracebacks and the
# audit log, so the type a log names stays importable wherever the private module that defines
# it lives.
for _error in list(globals().values()):
    if isinstance(_error, type) and issubclass(_error, PluginHostError):
        _error.__module__ = "pluginhost"
