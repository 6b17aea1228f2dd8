"""What the components of the defs folder share while one `build_definitions` loads them: the
deployment's settings, read once by the entry point (so a test's or a CLI's settings reach the
components too, not a second read of the environment), and what one component found that the next
needs (the index of the folder's declared tables), so a load reads the folder once."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ai_assets.config import Settings, load_settings

T = TypeVar("T")


@dataclass
class Load:
    settings: Settings
    found: dict[str, Any] = field(default_factory=dict)

    def remember(self, key: str, compute: Callable[[], T]) -> T:
        """`compute()` the first time `key` is asked for in this load; the same value after."""
        if key not in self.found:
            self.found[key] = compute()
        return self.found[key]


_CURRENT: ContextVar[Load | None] = ContextVar("ai_assets_load", default=None)


@contextmanager
def loading(settings: Settings) -> Iterator[Load]:
    """The components loaded inside see `settings` (`current()`)."""
    token = _CURRENT.set(Load(settings))
    try:
        yield _CURRENT.get()
    finally:
        _CURRENT.reset(token)


def current() -> Load:
    """The load under way; a component loaded on its own (outside `build_definitions`) reads the
    settings from the environment."""
    return _CURRENT.get() or Load(load_settings())
