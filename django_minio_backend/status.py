"""Server availability, as returned by ``MinioBackend.is_minio_available()``."""

from __future__ import annotations


class MinioServerStatus:
    """Truthy when the server answered and accepted the credentials.

    ``details`` says why not (or what was found) in one or more lines.
    """

    def __init__(self, available: bool, details: str | list[str] = "") -> None:
        self._available = available
        self._details = [details] if isinstance(details, str) else list(details)

    def __bool__(self) -> bool:
        return self._available

    @property
    def is_available(self) -> bool:
        return self._available

    @property
    def details(self) -> str:
        return "\n".join(d for d in self._details if d)

    def __repr__(self) -> str:
        return "MinIO is available" if self._available else "MinIO is NOT available"
