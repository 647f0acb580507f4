"""Exceptions raised by the backend."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class ConfigurationError(ImproperlyConfigured):
    """A setting or storage option cannot work; the message names it."""


class PrivatePublicMixedError(ConfigurationError):
    """A bucket is declared both private and public."""


class PluginError(RuntimeError):
    """A plugin failed; ``plugin_name`` says which one."""

    def __init__(self, plugin_name: str, hook: str, error: BaseException) -> None:
        super().__init__(f"plugin {plugin_name!r} failed in hook {hook!r}: {error!r}")
        self.plugin_name = plugin_name
        self.hook = hook


class StorageError(OSError):
    """An S3 request failed; the message names the endpoint and the object."""


class ObjectChangedError(StorageError):
    """An object was replaced while a file opened from it was being read."""
