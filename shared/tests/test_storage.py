"""Folders and buckets behind one Store: listing, hashing, writing, refusing hostile names,
and DuckDB reading and writing the same objects (the lake's data path included)."""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from botocore.exceptions import ClientError

from platform_shared.lake import enable_object_store, is_transient
from platform_shared.resources import WarehouseResource
from platform_shared.storage import (
    BucketStore,
    S3Settings,
    Store,
    _object,
    s3_client,
    store,
)
from platform_shared.testing import s3_test_settings, stores, temporary_store
from platform_shared.validation import UnsafeInputError


@pytest.fixture
def s3_settings() -> S3Settings:
    """The session's S3 server; its absence fails the test (``make test`` starts one)."""
    if "bucket" not in stores():
        pytest.fail("no S3 server: run under tests/with_servers.py, as make test does")
    return s3_test_settings()


@pytest.fixture(params=stores())
def files(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    with temporary_store(tmp_path / "files", request.param) as location:
        yield location


def test_store_parses_folders_and_bucket_urls(tmp_path: Path) -> None:
    assert store(str(tmp_path)).url == str(tmp_path)
    bucket = store("s3://landing-zone/team/in/")
    assert isinstance(bucket, BucketStore)
    assert (bucket.bucket, bucket.prefix) == ("landing-zone", "team/in")
    assert (
        bucket.reference("sales/2025-01-01.csv") == "s3://landing-zone/team/in/sales/2025-01-01.csv"
    )
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        store("gs://elsewhere/x")


def test_listing_reads_and_hashes_what_was_written(files: Store) -> None:
    content = b"sale_id,quantity\n1,2\n"
    files.put_bytes("sales/2025-01-02.csv", content)
    files.put_bytes("sales/2025-01-01.csv", b"")
    files.put_bytes("customers.csv", b"x\n")
    listed = files.list("sales")
    assert [f.name for f in listed] == ["sales/2025-01-01.csv", "sales/2025-01-02.csv"]
    assert [f.size for f in listed] == [0, len(content)]
    # No descent into folders (which a folder lists as not files, a bucket not at all).
    assert [f.name for f in files.list() if f.is_file] == ["customers.csv"]
    assert files.list("orders") == []
    assert files.sha256("sales/2025-01-02.csv") == hashlib.sha256(content).hexdigest()
    stat = files.stat("sales/2025-01-02.csv")
    assert stat is not None
    assert stat.size == len(content)
    assert files.stat("sales/2025-01-03.csv") is None


def test_a_rewrite_changes_the_version(files: Store) -> None:
    files.put_bytes("products.csv", b"one\n")
    first = files.stat("products.csv")
    files.put_bytes("products.csv", b"two, longer\n")
    second = files.stat("products.csv")
    assert first is not None
    assert second is not None
    assert (first.size, first.version) != (second.size, second.version)
    files.delete("products.csv")
    assert files.stat("products.csv") is None


@pytest.mark.parametrize(
    "name", ["../outside.csv", "/etc/passwd", "sales/../../x.csv", "a\nb.csv", "sales//x.csv", ""]
)
def test_hostile_names_are_refused_before_any_access(files: Store, name: str) -> None:
    with pytest.raises(UnsafeInputError):
        files.stat(name)
    with pytest.raises(UnsafeInputError):
        files.put_bytes(name, b"x")


def test_an_object_version_reads_the_same_listed_and_inspected() -> None:
    # A listing may give milliseconds (MinIO does) where HEAD gives whole seconds: the
    # sensor compares the two, and must not see a change in that.
    listed = dt.datetime(2025, 1, 2, 10, 0, 5, 789000, tzinfo=dt.UTC)
    inspected = listed.replace(microsecond=0)
    one = _object("a.csv", 3, {"ETag": '"abc"', "LastModified": listed})
    two = _object("a.csv", 3, {"ETag": '"abc"', "LastModified": inspected})
    assert one.version == two.version
    assert _object("a.csv", 3, {"ETag": '"abd"', "LastModified": listed}).version != one.version


def test_duckdb_reads_the_same_objects(files: Store) -> None:
    files.put_bytes("orders/2025-01-01.csv", b"order_id,status\n7,shipped\n")
    with duckdb.connect(config={"autoinstall_known_extensions": False}) as conn:
        enable_object_store(conn)
        rows = conn.execute(
            "SELECT * FROM read_csv(?)", [files.reference("orders/2025-01-01.csv")]
        ).fetchall()
    assert rows == [(7, "shipped")]


@pytest.mark.s3
def test_wrong_credentials_are_refused_and_the_secret_is_never_shown(
    s3_settings: S3Settings,
) -> None:
    good = s3_settings
    wrong = S3Settings(good.endpoint_url, good.region, good.access_key_id, "not-the-secret")
    with pytest.raises(
        ClientError, match=r"SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied"
    ) as refused:
        s3_client(wrong).list_buckets()
    assert good.secret_access_key
    for shown in (repr(good), repr(wrong), str(refused.value)):
        assert good.secret_access_key not in shown
        assert "not-the-secret" not in shown


@pytest.mark.s3
def test_the_lake_keeps_its_data_in_a_bucket(tmp_path: Path, s3_settings: S3Settings) -> None:
    with temporary_store(tmp_path, "bucket", prefix="lake") as bucket:
        assert isinstance(bucket, BucketStore)
        lake = WarehouseResource(
            catalog=f"sqlite:{tmp_path / 'catalog.sqlite'}", data_path=bucket.url
        )
        committed = lake.write(
            lambda conn: conn.execute(
                "CREATE SCHEMA IF NOT EXISTS t; "
                "CREATE OR REPLACE TABLE t.numbers AS SELECT range AS n FROM range(100000)"
            ),
            what="t.numbers",
        )
        lake.write(lambda conn: conn.execute("DELETE FROM t.numbers WHERE n >= 10"), what="t")
        with lake.get_connection() as conn:
            now = conn.execute("SELECT count(*), sum(n) FROM t.numbers").fetchone()
            then = conn.execute(
                f"SELECT count(*) FROM t.numbers AT (VERSION => {committed.snapshot_id})"
            ).fetchone()
        assert now == (10, 45)
        assert then == (100000,)
        # A reader that names the catalog only (a notebook) finds the bucket by itself.
        reader = WarehouseResource(catalog=lake.catalog, read_only=True)
        with reader.get_connection() as conn:
            assert conn.execute("SELECT count(*) FROM t.numbers").fetchone() == (10,)
        keys = [f.name for f in bucket.list("t/numbers")]
        assert keys
        assert all(k.endswith(".parquet") for k in keys)


def test_an_object_store_that_does_not_answer_is_worth_another_attempt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store restarting (nothing listening on its port) fails DuckDB's read and write
    with an error the warehouse's writes retry, not one that fails the step at once."""
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "platform")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    conn = duckdb.connect()
    enable_object_store(conn)
    for sql in (
        "SELECT count(*) FROM 's3://away/x.parquet'",
        "COPY (SELECT 1) TO 's3://away/y.parquet'",
    ):
        with pytest.raises(duckdb.IOException) as failed:
            conn.execute(sql)
        assert is_transient(failed.value), str(failed.value)
    # The store's own trouble is worth another attempt; a refusal is not.
    assert is_transient(duckdb.HTTPException("HTTP GET error on 's3://a/b' (HTTP 503)"))
    assert not is_transient(duckdb.HTTPException("HTTP GET error on 's3://a/b' (HTTP 403)"))
