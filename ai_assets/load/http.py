"""One HTTP request of a sink, with every way it can fail turned into an error that says what happened."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request


class HttpStatusError(RuntimeError):
    """The server answered, with an error status; `body` is the start of its answer."""

    def __init__(self, message: str, status: int, body: str, retry_after: str | None) -> None:
        super().__init__(message)
        self.status, self.body, self.retry_after = status, body, retry_after


def http_call(request: urllib.request.Request, timeout: float, who: str) -> bytes:
    """The body of the answer to `request`, from `who` (named in every error)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        body = error.read()[:300].decode(errors="replace")
        raise HttpStatusError(
            f"{who} answered HTTP {error.code}", error.code, body, error.headers.get("Retry-After")
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise RuntimeError(f"{who} did not answer within {timeout:g} s (AI_ASSETS_OUTBOX_TIMEOUT_S)") from None
        raise RuntimeError(f"{who} unreachable: {reason}") from None
