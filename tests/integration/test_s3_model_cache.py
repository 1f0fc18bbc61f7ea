"""The model cache fed from a real S3 endpoint (moto's server): one download per object version."""

from __future__ import annotations

import io
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from inferpipe.core.config import Settings
from inferpipe.core.containers.modeldata import ModelCache, ModelDataError
from inferpipe.core.s3.client import s3_client
from inferpipe.core.s3.objects import ObjectInfo, ObjectReader, S3Objects
from inferpipe.core.s3.uri import S3Uri
from inferpipe.core.spec import S3ModelData


class CountingObjects(S3Objects):
    """Counts the body bytes read, the cost the cache must not pay twice."""

    body_bytes = 0

    def open(self, uri: S3Uri, progress: Any = None) -> tuple[ObjectInfo, ObjectReader]:
        info, reader = super().open(uri, progress)
        real_read = reader.read

        def read(size: int = -1) -> bytes:
            data = real_read(size)
            CountingObjects.body_bytes += len(data)
            return data

        reader.read = read  # type: ignore[method-assign]
        return info, reader


@pytest.fixture
def cache(tmp_path: Path, s3_server: Any) -> tuple[ModelCache, CountingObjects]:
    settings = Settings(
        home=tmp_path,
        s3_endpoint_url=s3_server.url,
        s3_access_key_id=s3_server.daemon.access_key_id,
        s3_secret_access_key=s3_server.daemon.secret_access_key,
    )
    objects = CountingObjects(s3_client(settings))
    CountingObjects.body_bytes = 0
    return ModelCache(tmp_path / "cache", s3=lambda: objects), objects


def _tarball(text: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("weights.txt")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return out.getvalue()


def test_an_unchanged_object_is_downloaded_once(cache: tuple[ModelCache, CountingObjects], s3_server: Any) -> None:
    model_cache, _ = cache
    uri = s3_server.put(f"s3://cache-{uuid.uuid4().hex[:10]}/m/model.tar.gz", _tarball(b"v1"))
    first = model_cache.materialize(uri)
    read_once = CountingObjects.body_bytes
    assert read_once > 0 and (first / "weights.txt").read_bytes() == b"v1"
    assert model_cache.materialize(uri) == first
    assert CountingObjects.body_bytes == read_once, "the cached copy is reused without reading the object again"
    s3_server.put(uri, _tarball(b"v2"))  # a new ETag: a new entry
    second = model_cache.materialize(uri)
    assert second != first and (second / "weights.txt").read_bytes() == b"v2"


def test_prefix_and_failures(cache: tuple[ModelCache, CountingObjects], s3_server: Any) -> None:
    model_cache, _ = cache
    bucket = s3_server.bucket(f"cache-{uuid.uuid4().hex[:10]}")
    s3_server.put(f"s3://{bucket}/p/a.txt", b"A")
    s3_server.put(f"s3://{bucket}/p/", b"")  # a console's folder marker holds no file
    s3_server.put(f"s3://{bucket}/p/d/b.txt", b"B")
    entry = model_cache.materialize_s3(S3ModelData(f"s3://{bucket}/p/", "S3Prefix", "None"))
    assert sorted(str(p.relative_to(entry)) for p in entry.rglob("*") if p.is_file()) == ["a.txt", "d/b.txt"]
    with pytest.raises(ModelDataError, match=f"s3://{bucket}/empty/: NoSuchKey"):
        model_cache.materialize_s3(S3ModelData(f"s3://{bucket}/empty/", "S3Prefix", "None"))
    with pytest.raises(ModelDataError, match="s3://no-such-bucket-x/p/: NoSuchBucket"):
        model_cache.materialize_s3(S3ModelData("s3://no-such-bucket-x/p/", "S3Prefix", "None"))
    with pytest.raises(ModelDataError, match="InvalidObjectKey"):
        model_cache.materialize(f"s3://{bucket}/p/")
    s3_server.put(f"s3://{bucket}/bad.tar.gz", b"not an archive at all")
    with pytest.raises(ModelDataError, match="Refusing model data"):
        model_cache.materialize(f"s3://{bucket}/bad.tar.gz")
    assert [p.name for p in (model_cache.root).iterdir() if p.name.startswith(".")] == []  # no staging left


def test_large_downloads_report_progress(
    cache: tuple[ModelCache, CountingObjects], s3_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inferpipe.core.containers import s3modeldata

    monkeypatch.setattr(s3modeldata, "PROGRESS_STEP", 1024 * 1024)
    model_cache, _ = cache
    size = 3 * 1024 * 1024 + 5
    uri = s3_server.put(f"s3://cache-{uuid.uuid4().hex[:10]}/w/model.bin", b"w" * size)
    heard: list[tuple[str, int, int]] = []
    entry = model_cache.materialize_s3(S3ModelData(uri, "S3Object", "None"), lambda *a: heard.append(a))
    assert (entry / "model.bin").stat().st_size == size
    assert [h[0] for h in heard] == [uri] * len(heard) and all(h[2] == size for h in heard)
    received = [h[1] for h in heard]
    assert len(received) >= 3 and received == sorted(received) and received[-1] == size
