"""Advisory file locks (flock) for the few places that still need one.

Writers of the warehouse need none: each run writes its own files and renames them into place.
What remains is a read-merge-write (an upsert of a history table) and the preparation of the
storage and catalog at the start of a step, which two processes must not do at once.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def file_lock(lock_path: Path, *, shared: bool = False) -> Iterator[None]:
    """Held until the block ends; `shared` holders run side by side and only exclude an exclusive one."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
