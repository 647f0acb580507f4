"""The plugin manager and the typed calls the backend makes through it.

Built, like tox's, in one order: hook specs, blocked names, built-ins, entry
points of the ``django_minio_backend`` group, ``MINIO_PLUGINS``, then a check
that every hook implementation matches a spec. It is built lazily on first use,
never at import time, and rebuilt when the plugin settings change.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

import pluggy
from django.core.exceptions import PermissionDenied, SuspiciousOperation, ValidationError
from django.utils.module_loading import import_string

from . import hookspecs
from .conf import global_setting
from .exceptions import ConfigurationError, PluginError
from .forking import renew_after_fork
from .headers import merge_headers

if TYPE_CHECKING:
    from django.core.files import File
    from django.db import models
    from django.http import HttpRequest

    from .direct import UploadRules
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
    "django_minio_backend.plugins.active_content",
    "django_minio_backend.plugins.direct_upload_default",
)

# Django's own refusals: a plugin raises them on purpose (an unsafe name, a file
# it rejects, a user it won't serve), and Django's callers know how to answer them
# (a form error, a 400, a 403). Everything else is a plugin bug: PluginError.
PASSED_THROUGH: tuple[type[Exception], ...] = (SuspiciousOperation, ValidationError, PermissionDenied)
# Also a PluginError from a plugin asking another hook (it names its culprit). A named tuple
# because mypy does not accept `except (*PASSED_THROUGH, PluginError)`.
_NOT_WRAPPED: tuple[type[Exception], ...] = (*PASSED_THROUGH, PluginError)

_lock = threading.RLock()
renew_after_fork(globals(), "_lock")
# Guesses made within one upload's headers (see remembering_guesses), by (name, content, storage).
_guesses: ContextVar[dict[tuple[str, int, int], str | None] | None] = ContextVar("dmb_guesses", default=None)
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

    def add_hookspecs(self, module_or_class: ModuleType | type) -> None:
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
        _load_entry_points(pm)
        for path in global_setting("MINIO_PLUGINS"):
            if pm.is_blocked(path):
                continue
            plugin = _import_plugin(path)
            if pm.is_registered(plugin):
                continue  # a built-in or an entry point listed again: it runs once
            pm.register(plugin, name=path)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or repr(exc.plugin)
        raise ConfigurationError(f"django_minio_backend plugin {name!r} is invalid: {exc}") from exc
    return pm


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """pluggy's ``load_setuptools_entrypoints``, naming the plugin whose import fails."""
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        name = entry_point.name
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            plugin = entry_point.load()
        except Exception as exc:  # whatever the plugin's module raises at import
            raise ConfigurationError(
                f"django_minio_backend plugin {name!r} (entry point {entry_point.value!r}) cannot be "
                f"loaded: {exc!r}. Fix or uninstall it, or list {name!r} in MINIO_DISABLED_PLUGINS."
            ) from exc
        pm.register(plugin, name=name)


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
    except _NOT_WRAPPED:  # a plugin asking another hook: the culprit is named
        raise
    except Exception as exc:
        raise PluginError(_culprit(pm, hook, sys.exc_info()[2]), hook, exc) from exc


def _line_problem(value: str) -> str | None:
    if any(c in value for c in "\r\n\0"):
        return f"{value!r} contains a line break"
    return None


def _policy_problem(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return f"returned {answer!r} ({type(answer).__name__}); expected a policy dict or None"
    try:
        json.dumps(answer)
    except (TypeError, ValueError) as exc:
        return f"returned a policy that cannot be serialised to JSON ({exc})"
    return None


def _str_problem(answer: Any) -> str | None:
    if not isinstance(answer, str):
        return f"returned {answer!r} ({type(answer).__name__}); expected str or None"
    return None


def _content_type_problem(answer: Any) -> str | None:
    return _str_problem(answer) or _line_problem(answer)


def _parameters_problem(answer: Any) -> str | None:
    if not isinstance(answer, dict):
        return f"returned {answer!r} ({type(answer).__name__}); expected a dict of header: value or None"
    for key, value in answer.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return f"returned {{{key!r}: {value!r}}}; header names and values must be str"
        problem = _line_problem(key) or _line_problem(value)
        if problem:
            return f"returned header {key!r}: {problem}"
    return None


# What each hook may answer (None aside): checked where the answer enters the backend,
# so that a wrong answer fails naming the plugin instead of deep in the SDK.
_PROBLEMS: dict[str, Callable[[Any], str | None]] = {
    "bucket_policy": _policy_problem,
    "upload_to_prefix": _str_problem,
    "content_type_guess": _content_type_problem,
    "object_parameters": _parameters_problem,
}


def _answerer(pm: pluggy.PluginManager, hook: str, kwargs: dict[str, Any]) -> str:
    """The plugin whose answer to ``hook`` is wrong: each implementation asked alone (error path only)."""
    problem = _PROBLEMS[hook]
    caller: pluggy.HookCaller = getattr(pm.hook, hook)
    for impl in reversed(caller.get_hookimpls()):  # pluggy's call order
        if impl.hookwrapper or impl.wrapper:
            continue
        try:
            answer = impl.function(*[kwargs[arg] for arg in impl.argnames])
        except Exception:
            continue
        if answer is not None and problem(answer):
            return impl.plugin_name
    return "unknown"


def _ask(hook: str, **kwargs: Any) -> Any:
    """``_call``, then the answer (each answer, for a hook that collects them) checked."""
    result = _call(hook, **kwargs)
    answers = result if hook == "object_parameters" else [result]
    for answer in answers:
        problem = None if answer is None else _PROBLEMS[hook](answer)
        if problem:
            pm = get_plugin_manager()
            raise PluginError(_answerer(pm, hook, kwargs), hook, TypeError(problem))
    return result


def bucket_policy(bucket_name: str, public: bool, storage: MinioBackend) -> dict[str, Any] | None:
    """The policy ``bucket_name`` must carry, or None for no policy."""
    policy: dict[str, Any] | None = _ask(
        "bucket_policy", bucket_name=bucket_name, public=public, storage=storage
    )
    return policy


def upload_to_prefix(instance: Any, filename: str, storage: MinioBackend | None) -> str | None:
    """The prefix a name strategy gives a new upload, or None."""
    prefix: str | None = _ask("upload_to_prefix", instance=instance, filename=filename, storage=storage)
    return prefix


@contextlib.contextmanager
def remembering_guesses() -> Iterator[None]:
    """Within this block, ``content_type_guess`` asks the plugins once per name and content.

    An upload's headers need the guess twice (the built-in ``active_content`` asks it
    for ``object_parameters``, then the storage for Content-Type); the content cannot
    change between the two, and plugins may sniff it, which costs a read each time.
    """
    token = _guesses.set({})
    try:
        yield
    finally:
        _guesses.reset(token)


def content_type_guess(name: str, content: File[Any], storage: MinioBackend) -> str | None:
    """The MIME type plugins guess for ``content``, or None.

    Plugins may read the content to sniff it; its position is put back afterwards,
    so a second guess (or the upload) starts where the first one did.
    """
    memo = _guesses.get()
    if memo is None:
        return _content_type_guess(name, content, storage)
    key = (name, id(content), id(storage))  # both alive for the block's whole life: ids are not reused
    if key not in memo:
        memo[key] = _content_type_guess(name, content, storage)
    return memo[key]


def _content_type_guess(name: str, content: File[Any], storage: MinioBackend) -> str | None:
    guess: str | None
    try:
        position = content.tell()
    except (AttributeError, OSError, ValueError):
        guess = _ask("content_type_guess", name=name, content=content, storage=storage)
        return guess
    try:
        guess = _ask("content_type_guess", name=name, content=content, storage=storage)
        return guess
    finally:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            content.seek(position)


def object_parameters(name: str, content: File[Any], storage: MinioBackend) -> dict[str, str]:
    """Extra upload headers from every plugin; the first plugin called wins a header."""
    answers = _ask("object_parameters", name=name, content=content, storage=storage)
    return merge_headers(*(answer or {} for answer in reversed(answers)))


def on_bucket_created(bucket_name: str, public: bool, storage: MinioBackend) -> None:
    """Tell every plugin that ``bucket_name`` was just created."""
    _call("on_bucket_created", bucket_name=bucket_name, public=public, storage=storage)


def known_plugin_names() -> set[str]:
    """Every name MINIO_DISABLED_PLUGINS can block: built-ins, entry points, MINIO_PLUGINS, registered."""
    names = {*DEFAULT_PLUGINS, *global_setting("MINIO_PLUGINS")}
    names.update(entry_point.name for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    names.update(name for name, plugin in get_plugin_manager().list_name_plugin() if plugin is not None)
    return names


def direct_upload_rules(
    request: HttpRequest,
    model: type[models.Model],
    field: models.FileField,
    filename: str,
    size: int,
    content_type: str,
    storage: MinioBackend,
) -> UploadRules | None:
    """The rules the first answering plugin sets for a direct upload, or None (refused)."""
    rules: UploadRules | None = _call(
        "direct_upload_rules",
        request=request,
        model=model,
        field=field,
        filename=filename,
        size=size,
        content_type=content_type,
        storage=storage,
    )
    return rules


def direct_upload_finalized(
    request: HttpRequest,
    model: type[models.Model],
    field: models.FileField,
    name: str,
    size: int,
    content_type: str,
    storage: MinioBackend,
) -> None:
    """Tell every plugin that a direct upload is in place; a plugin's UploadRejected propagates as is."""
    try:
        _call(
            "direct_upload_finalized",
            request=request,
            model=model,
            field=field,
            name=name,
            size=size,
            content_type=content_type,
            storage=storage,
        )
    except PluginError as exc:
        from .direct import UploadRejected

        if isinstance(exc.__cause__, UploadRejected):
            raise exc.__cause__ from None
        raise
