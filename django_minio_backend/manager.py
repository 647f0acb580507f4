"""The plugin manager and the typed calls the backend makes through it.

Built, like tox's, in one order: hook specs, blocked names, built-ins, entry
points of the ``django_minio_backend`` group, ``MINIO_PLUGINS``, then a check
that every hook implementation matches a spec. It is built lazily on first use,
never at import time, and rebuilt when the plugin settings change.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pluggy
from django.utils.module_loading import import_string

from . import hookspecs
from .conf import global_setting
from .exceptions import ConfigurationError, PluginError

if TYPE_CHECKING:
    from django.core.files import File

    from .storage import MinioBackend

ENTRY_POINT_GROUP = "django_minio_backend"
# All built-ins are trylast (fallbacks) but policy_hooks (tryfirst). Among trylast
# implementations pluggy calls the first registered first: the upload's declared
# content type is asked before mimetypes.
DEFAULT_PLUGINS = (
    "django_minio_backend.plugins.policy_hooks",
    "django_minio_backend.plugins.public_read",
    "django_minio_backend.plugins.iso_date",
    "django_minio_backend.plugins.upload_content_type",
    "django_minio_backend.plugins.mimetypes_guess",
)

_lock = threading.RLock()
_manager: _PluginManager | None = None


class _PluginManager(pluggy.PluginManager):
    """A pluggy manager that knows which hooks have implementations, so calls of none are skipped.

    ``generation`` changes after every change of the plugin set (register,
    unregister, which ``set_blocked`` uses, new specs); answers are cached per
    generation, so a plugin an app or a test registers on the live manager is seen
    by the next call.
    """

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self.generation = 0
        self._implemented: tuple[int, dict[str, bool]] = (-1, {})

    def register(self, plugin: object, name: str | None = None) -> str | None:
        try:
            return super().register(plugin, name)
        finally:
            self.generation += 1  # after the change: an answer computed meanwhile is dropped

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        try:
            return super().unregister(plugin, name)
        finally:
            self.generation += 1

    def add_hookspecs(self, module_or_class: object) -> None:
        try:
            super().add_hookspecs(module_or_class)
        finally:
            self.generation += 1

    def implemented(self, hook: str) -> bool:
        """Whether any registered plugin implements ``hook``; a dict read per call, no lock."""
        generation, known = self._implemented
        if generation != self.generation:
            generation, known = self.generation, {}
            self._implemented = (generation, known)
        answer = known.get(hook)
        if answer is None:
            answer = known[hook] = bool(getattr(self.hook, hook).get_hookimpls())
        return answer


def _import_plugin(path: str) -> object:
    """A module (``"myproject.minio_plugins"``) or an object in one (``"myproject.plugins.Names"``)."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name != path:  # the module exists but fails to import something itself
            raise ConfigurationError(f"MINIO_PLUGINS: cannot import {path!r}: {exc}") from exc
    except ImportError as exc:
        raise ConfigurationError(f"MINIO_PLUGINS: cannot import {path!r}: {exc}") from exc
    try:
        return import_string(path)
    except ImportError as exc:
        raise ConfigurationError(f"MINIO_PLUGINS: cannot import {path!r}: {exc}") from exc


def _build() -> _PluginManager:
    pm = _PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in global_setting("MINIO_DISABLED_PLUGINS"):
        pm.set_blocked(name)
    try:
        for path in DEFAULT_PLUGINS:
            if not pm.is_blocked(path):
                pm.register(importlib.import_module(path), name=path)
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        for path in global_setting("MINIO_PLUGINS"):
            if pm.is_blocked(path):
                continue
            pm.register(_import_plugin(path), name=path)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise ConfigurationError(f"django_minio_backend plugin {name!r} is invalid: {exc}") from exc
    return pm


def get_plugin_manager() -> _PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _manager
    built = _manager
    if built is not None:  # every hook call asks: no lock once built
        return built
    with _lock:
        if _manager is None:
            _manager = _build()
        return _manager


def reset() -> None:
    """Forget the manager; the next hook call rebuilds it from the settings."""
    global _manager
    with _lock:
        _manager = None


def active_plugins() -> list[tuple[str, list[str]]]:
    """(plugin name, hook names it implements) for every registered plugin."""
    pm = get_plugin_manager()
    result = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        callers = pm.get_hookcallers(plugin) or []
        result.append((name, sorted(c.name for c in callers)))
    return result


def _culprit(pm: pluggy.PluginManager, hook: str, tb: TracebackType | None) -> str:
    codes = {impl.function.__code__: impl.plugin_name for impl in getattr(pm.hook, hook).get_hookimpls()}
    name = "unknown"
    while tb is not None:
        name = codes.get(tb.tb_frame.f_code, name)
        tb = tb.tb_next
    return name


def _call(hook: str, **kwargs: Any) -> Any:
    pm = get_plugin_manager()
    caller: pluggy.HookCaller = getattr(pm.hook, hook)
    if not pm.implemented(hook):
        # What pluggy answers when nothing implements the hook, without its call machinery:
        # every save asks object_parameters, which no built-in implements.
        return None if caller.spec and caller.spec.opts.get("firstresult") else []
    try:
        return caller(**kwargs)
    except Exception as exc:
        raise PluginError(_culprit(pm, hook, sys.exc_info()[2]), hook, exc) from exc


def bucket_policy(bucket_name: str, public: bool, storage: MinioBackend) -> dict[str, Any] | None:
    """The policy ``bucket_name`` must carry, or None for no policy."""
    return _call("bucket_policy", bucket_name=bucket_name, public=public, storage=storage)


def upload_to_prefix(instance: Any, filename: str, storage: MinioBackend | None) -> str | None:
    """The prefix a name strategy gives a new upload, or None."""
    return _call("upload_to_prefix", instance=instance, filename=filename, storage=storage)


def content_type_guess(name: str, content: File) -> str | None:
    """The MIME type plugins guess for ``content``, or None."""
    return _call("content_type_guess", name=name, content=content)


def object_parameters(name: str, content: File, storage: MinioBackend) -> dict[str, str]:
    """Extra upload headers from every plugin; the first plugin called wins a header."""
    merged: dict[str, str] = {}
    for answer in reversed(_call("object_parameters", name=name, content=content, storage=storage)):
        merged.update(answer or {})
    return merged


def on_bucket_created(bucket_name: str, public: bool, storage: MinioBackend) -> None:
    """Tell every plugin that ``bucket_name`` was just created."""
    _call("on_bucket_created", bucket_name=bucket_name, public=public, storage=storage)
