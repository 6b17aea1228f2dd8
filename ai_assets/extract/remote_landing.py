"""Landing folders in object storage (`AI_ASSETS_LANDING_URL=s3://bucket/landing`), so any machine
can extract any day: each machine keeps `<data dir>/landing/` as a mirror of that prefix, brought up
to date before a step or a sensor reads it (new and changed files downloaded, files gone from the
store removed), and everything downstream reads local files as before.

A file is compared by its ETag, kept in `landing/.mirror.json`; a download lands under a temporary
name and is renamed into place, so a reader never sees half a file. Mirrors on one machine take
turns (a file lock).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ai_assets.warehouse.locking import file_lock

MANIFEST = ".mirror.json"


class Mirrored(NamedTuple):
    downloaded: int
    removed: int
    files: int


@dataclass(frozen=True)
class Landing:
    """Where a machine reads landing files: `local`, a mirror of `url` when one is set."""

    local: Path
    url: str | None = None
    endpoint_url: str | None = None

    def refreshed(self) -> Path:
        """The local folder, brought up to date with the bucket first (when there is one)."""
        if self.url:
            mirror(self.url, self.local, self.endpoint_url)
        return self.local

    def publish(self, relative: str) -> None:
        """A file written into the folder by the pipeline, put in the bucket too (when there is one)."""
        if self.url:
            upload(self.url, self.local, relative, self.endpoint_url)


def _inside(local: Path, relative: str) -> bool:
    """False for a key that would land outside the folder (`../`): such a file is not mirrored."""
    return (local / relative).resolve().is_relative_to(local.resolve())


def _filesystem(endpoint_url: str | None):
    import s3fs

    # Listings uncached: a file another machine landed a moment ago must be seen.
    options = {"endpoint_url": endpoint_url} if endpoint_url else {}
    return s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True, client_kwargs=options)


def mirror(url: str, local: Path, endpoint_url: str | None = None) -> Mirrored:
    """Makes the files under `local` those under `url` (credentials by boto's chain, as for the lake)."""
    fs = _filesystem(endpoint_url)
    prefix = _prefix(url)
    local.mkdir(parents=True, exist_ok=True)
    # Half-downloaded files beside the folder, not in it: no scan of landing/ ever sees one.
    downloads = local.with_name(f".{local.name}-downloads")
    downloads.mkdir(exist_ok=True)
    with file_lock(local / ".mirror.lock"):
        # Listed under the lock: a listing older than another mirror's would undo its downloads.
        remote = {
            path.removeprefix(prefix + "/"): str(info.get("ETag") or info.get("size"))
            for path, info in fs.find(prefix, detail=True).items()
            if info.get("type") != "directory" and _inside(local, path.removeprefix(prefix + "/"))
        }
        manifest_path = local / MANIFEST
        held = _read_manifest(manifest_path)
        downloaded = removed = 0
        for relative, tag in sorted(remote.items()):
            target = local / relative
            if held.get(relative) == tag and target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = downloads / f"{abs(hash(relative))}.partial"
            try:
                fs.get_file(f"{prefix}/{relative}", str(partial))
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            held[relative] = tag
            downloaded += 1
        for relative in sorted(set(held) - set(remote)):
            (local / relative).unlink(missing_ok=True)
            del held[relative]
            removed += 1
        _write_manifest(manifest_path, held)
    return Mirrored(downloaded, removed, len(remote))


def upload(url: str, local: Path, relative: str, endpoint_url: str | None = None) -> None:
    """Puts a file the pipeline wrote into its mirror (`local/relative`) in the bucket, so that
    every machine's mirror gets it, and records it as mirrored (so it is not fetched back). A file
    the mirror already holds is in the bucket: nothing to do."""
    fs = _filesystem(endpoint_url)
    key = f"{_prefix(url)}/{relative}"
    with file_lock(local / ".mirror.lock"):
        manifest_path = local / MANIFEST
        held = _read_manifest(manifest_path)
        if relative in held:
            return
        if fs.exists(key):  # landed by someone since this machine's last mirror: never overwritten
            raise FileExistsError(f"{key} is already in the bucket; not overwritten")
        fs.put_file(str(local / relative), key)
        info = fs.info(key)
        held[relative] = str(info.get("ETag") or info.get("size"))
        _write_manifest(manifest_path, held)


def _prefix(url: str) -> str:
    return url.removeprefix("s3://").rstrip("/")


def _read_manifest(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.exists() else {}


def _write_manifest(path: Path, held: dict[str, str]) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(held, indent=0, sort_keys=True))
    os.replace(partial, path)
