"""Landing folders in a bucket (AI_ASSETS_LANDING_URL): a machine with no landing files of its own
extracts a day landed there; its local folder follows the bucket (new, changed and removed files);
a day whose files left the bucket is refused like a local one. A real S3 server (moto) on loopback."""

from __future__ import annotations

import boto3
import pytest

from ai_assets.extract.remote_landing import Landing, mirror
from ai_assets.resources import DataDirResource
from ai_assets_tests.conftest import configure_env
from ai_assets_tests.landing.test_landing_days import _counts, _extract, _land

URL = "s3://lake/landing"


def _upload(folder, endpoint: str) -> None:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    for path in folder.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), "lake", f"landing/{path.relative_to(folder).as_posix()}")


def test_the_local_folder_follows_the_bucket(tmp_path, s3_server):
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    s3.put_object(Bucket="lake", Key="landing/tickets/2026-11-01/a.jsonl", Body=b'{"n": 1}\n')
    s3.put_object(Bucket="lake", Key="landing/kb/a.md", Body=b"# A\n")
    local = tmp_path / "landing"
    assert mirror(URL, local, s3_server) == (2, 0, 2)
    assert mirror(URL, local, s3_server) == (0, 0, 2)  # nothing changed: nothing downloaded
    s3.put_object(Bucket="lake", Key="landing/tickets/2026-11-01/a.jsonl", Body=b'{"n": 2}\n')
    s3.delete_object(Bucket="lake", Key="landing/kb/a.md")
    assert mirror(URL, local, s3_server) == (1, 1, 1)
    assert (local / "tickets" / "2026-11-01" / "a.jsonl").read_text() == '{"n": 2}\n'
    assert not (local / "kb" / "a.md").exists()
    assert not list(tmp_path.rglob("*.partial"))
    s3.put_object(Bucket="lake", Key="landing/../escape.txt", Body=b"x")  # a key that climbs out
    mirror(URL, local, s3_server)
    assert not (tmp_path / "escape.txt").exists()


def test_a_file_the_pipeline_publishes_reaches_every_machine(tmp_path, s3_server):
    """An approved knowledge-base article (kb_publications) written into one machine's mirror."""
    url = "s3://lake/published-landing"  # its own prefix: moto's buckets outlive a test
    one = Landing(tmp_path / "one" / "landing", url, s3_server)
    other = Landing(tmp_path / "other" / "landing", url, s3_server)
    one.refreshed()
    (one.local / "kb").mkdir()
    (one.local / "kb" / "kb-new.md").write_text("---\ntitle: New\n---\nBody.\n")
    one.publish("kb/kb-new.md")
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    (one.local / "kb" / "kb-new.md").write_text("changed here after publishing\n")
    one.publish("kb/kb-new.md")  # published before: nothing sent again (the bucket's copy is the article)
    assert s3.get_object(Bucket="lake", Key="published-landing/kb/kb-new.md")["Body"].read().startswith(b"---")
    (one.local / "kb" / "kb-new.md").write_text("---\ntitle: New\n---\nBody.\n")
    # A file someone put in the bucket since this machine's last mirror is never overwritten.
    s3.put_object(Bucket="lake", Key="published-landing/kb/theirs.md", Body=b"# Theirs\n")
    (one.local / "kb" / "theirs.md").write_text("# Ours\n")
    with pytest.raises(FileExistsError, match="already in the bucket"):
        one.publish("kb/theirs.md")
    s3.delete_object(Bucket="lake", Key="published-landing/kb/theirs.md")
    (one.local / "kb" / "theirs.md").unlink()
    assert (other.refreshed() / "kb" / "kb-new.md").read_text() == "---\ntitle: New\n---\nBody.\n"
    assert mirror(url, one.local, s3_server) == (0, 0, 1)  # the publisher neither fetches it back nor drops it
    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").delete_object(
        Bucket="lake", Key="published-landing/kb/kb-new.md"
    )
    assert mirror(url, one.local, s3_server) == (0, 1, 0)  # removed from the bucket by hand: gone everywhere
    assert not (one.local / "kb" / "kb-new.md").exists()


def test_a_machine_without_landing_files_extracts_a_day_landed_in_the_bucket(tmp_path, monkeypatch, s3_server):
    lander = configure_env(monkeypatch, tmp_path / "lander", None)
    _land(lander)
    _upload(lander.landing_dir, s3_server)
    monkeypatch.setenv("AI_ASSETS_LANDING_URL", URL)
    monkeypatch.setenv("AI_ASSETS_STORAGE_ENDPOINT_URL", s3_server)
    machine = configure_env(monkeypatch, tmp_path / "machine", None)  # no landing/ of its own
    assert machine.project.landing_url == URL
    landing = DataDirResource(data_dir=str(machine.data_dir), landing_url=URL, endpoint_url=s3_server)

    assert _extract(machine, landing=landing).success
    assert _counts(machine) == {"raw_tickets": 3, "orders": 1}

    boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1").delete_object(
        Bucket="lake", Key="landing/tickets/2026-11-01/a.jsonl"
    )
    refused = _extract(machine, landing=landing)  # the day's files left the bucket: its rows stay
    assert not refused.success
    assert _counts(machine) == {"raw_tickets": 3, "orders": 1}
