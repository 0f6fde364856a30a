"""Where the platform's files live: a folder of this machine, or a prefix of a bucket.

Landing files, the lake's Parquet files and exports are each named by one setting that
holds a folder (the embedded default) or an ``s3://bucket/prefix`` URL on any
S3-compatible store (AWS S3, SeaweedFS, MinIO, Ceph). Python code lists, hashes, reads and
writes through :class:`Store`; DuckDB reads and writes the same objects itself, through
:func:`duckdb_secret_sql` and the ``httpfs`` extension.

One S3 client, boto3, serves everything: dagster-aws's compute log manager uses it too,
so a deployment configures one set of ``AWS_*`` variables (see :mod:`.settings`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import threading
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from platform_shared.settings import current, secret
from platform_shared.validation import checked_name, resolve_inside

_HASH_CHUNK = 1024 * 1024
# Files written aside (mkstemp: mode 0600) get the mode a plain write would give them.
_UMASK = os.umask(0)
os.umask(_UMASK)
# The longest a SigV4-signed URL may live: links to a bucket's exports in asset metadata
# work for a week after the run (set EXPORT_LINK_BASE for links that do not expire).
SIGNED_LINK_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class StoredFile:
    """One file of a store: its name relative to the store's root ('/'-separated), its
    size, a version stamp that changes whenever its content may have, and when it was last
    written (seconds since the epoch)."""

    name: str
    size: int
    version: str
    modified: float = 0.0

    @property
    def is_file(self) -> bool:
        """False for what a folder lists beside files (sub-folders, broken links)."""
        return self.size >= 0


def is_url(location: str) -> bool:
    """Whether ``location`` names an object store rather than a folder of this machine."""
    return "://" in location


def store(location: str) -> Store:
    """The store a setting names: ``s3://bucket[/prefix]`` or a folder."""
    if not is_url(location):
        return FolderStore(Path(location))
    parsed = urllib.parse.urlsplit(location)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"{location!r}: use a folder or s3://bucket/prefix")
    return BucketStore(parsed.netloc, parsed.path.strip("/"))


class Store(ABC):
    """A folder or bucket prefix holding files by relative name."""

    #: Whether a listed file may still be growing: a writer appends to a file in place,
    #: whereas an object appears whole once its upload completes.
    partial_writes_visible: bool

    @property
    @abstractmethod
    def url(self) -> str:
        """The root as a setting would name it."""

    @abstractmethod
    def check(self, name: str) -> None:
        """Raise ``UnsafeInputError`` unless ``name`` stays inside the store."""

    @abstractmethod
    def list(self, folder: str = "") -> list[StoredFile]:
        """What lies directly inside ``folder`` (relative), by name; [] if it is absent.

        Names are returned as stored, unchecked: callers validate them before use. A folder
        also lists what is not a regular file (``is_file`` False), for the caller to
        report."""

    @abstractmethod
    def stat(self, name: str) -> StoredFile | None:
        """``name`` as a regular file, or None if there is none."""

    @abstractmethod
    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """A binary stream of ``name``'s content (``FileNotFoundError`` if it is gone)."""

    @abstractmethod
    def put_bytes(self, name: str, data: bytes, content_type: str | None = None) -> None:
        """Write ``name`` whole: a reader sees the old content or the new, never part."""

    @abstractmethod
    def put_file(self, name: str, source: Path, content_type: str | None = None) -> None:
        """Copy the local file ``source`` to ``name``, whole, as :meth:`put_bytes` does."""

    @abstractmethod
    def link(self, name: str) -> str:
        """A URL at which a person can open ``name``."""

    @abstractmethod
    def delete(self, name: str) -> None:
        """Remove ``name`` if it exists."""

    @abstractmethod
    def reference(self, name: str) -> str:
        """What DuckDB (``read_blob``, ``COPY ... TO``) and people name the file by."""

    def sha256(self, name: str) -> str:
        """The SHA-256 of ``name``'s content, read through (an ETag is not a content hash:
        a multipart upload's is a hash of part hashes, and stores differ)."""
        digest = hashlib.sha256()
        with self.open(name) as stream:
            while chunk := stream.read(_HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


class FolderStore(Store):
    """A folder of this machine; names are resolved inside it, symlinks included."""

    partial_writes_visible = True

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def url(self) -> str:
        return str(self.root)

    def path(self, name: str) -> Path:
        """The absolute path of ``name``, or ``UnsafeInputError`` if it leaves the folder."""
        return resolve_inside(self.root, name)

    def check(self, name: str) -> None:
        self.path(name)

    def list(self, folder: str = "") -> list[StoredFile]:
        base = self.path(folder) if folder else self.root
        try:
            names = sorted(entry.name for entry in os.scandir(base))
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for entry in names:
            relative = f"{folder}/{entry}" if folder else entry
            try:
                st = (base / entry).stat()  # follows links: a link to a file is a file
            except OSError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                found.append(StoredFile(relative, -1, ""))
            else:
                found.append(_stored(relative, st))
        return found

    def stat(self, name: str) -> StoredFile | None:
        path = self.path(name)
        if not path.is_file():
            return None
        return _stored(name, path.stat())

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        with self.path(name).open("rb") as stream:
            yield stream

    def put_bytes(self, name: str, data: bytes, content_type: str | None = None) -> None:
        with self._aside(name) as (handle, _):
            handle.write(data)

    def put_file(self, name: str, source: Path, content_type: str | None = None) -> None:
        with self._aside(name) as (handle, _), source.open("rb") as stream:
            shutil.copyfileobj(stream, handle)

    @contextmanager
    def _aside(self, name: str) -> Iterator[tuple[IO[bytes], Path]]:
        """A file written beside ``name`` and renamed onto it if the block succeeds: a
        reader never sees half a file."""
        target = self.path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)
            with os.fdopen(fd, "wb") as handle:
                yield handle, Path(temporary)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def link(self, name: str) -> str:
        return self.path(name).as_uri()

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)

    def reference(self, name: str) -> str:
        return str(self.path(name))


def _stored(name: str, st: os.stat_result) -> StoredFile:
    return StoredFile(name, st.st_size, str(st.st_mtime_ns), st.st_mtime)


@dataclass(frozen=True)
class S3Settings:
    """How to reach the object store, from the ``AWS_*`` settings (see :mod:`.settings`)."""

    endpoint_url: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None = field(default=None, repr=False)  # never printed

    def environ(self) -> dict[str, str]:
        """The ``AWS_*`` variables by which another process reaches the same store."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url or "",
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.access_key_id or "",
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key or "",
        }

    @classmethod
    def from_environment(cls) -> S3Settings:
        return cls(
            endpoint_url=current("AWS_ENDPOINT_URL") or None,
            region=current("AWS_REGION"),
            access_key_id=current("AWS_ACCESS_KEY_ID") or None,
            secret_access_key=secret("AWS_SECRET_ACCESS_KEY"),
        )


_CLIENTS: dict[S3Settings, Any] = {}
_CLIENTS_LOCK = threading.Lock()


def s3_client(settings: S3Settings | None = None) -> Any:
    """A boto3 S3 client for ``settings`` (default: this process's), one per process."""
    import boto3  # 0.4 s to import: only where a bucket is used, not in every code server
    from botocore.config import Config

    settings = settings or S3Settings.from_environment()
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(settings)
        if client is None:
            client = _CLIENTS[settings] = boto3.Session().client(
                "s3",
                endpoint_url=settings.endpoint_url,
                region_name=settings.region,
                aws_access_key_id=settings.access_key_id,
                aws_secret_access_key=settings.secret_access_key,
                config=Config(
                    # Self-hosted stores answer on one host name: path-style addressing.
                    s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
                    retries={"max_attempts": 5, "mode": "standard"},
                ),
            )
        return client


class BucketStore(Store):
    """A prefix of an S3-compatible bucket. Keys are ``<prefix>/<name>``."""

    partial_writes_visible = False

    def __init__(self, bucket: str, prefix: str = "", settings: S3Settings | None = None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._settings = settings

    @property
    def client(self) -> Any:
        return s3_client(self._settings)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def key(self, name: str) -> str:
        name = checked_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def check(self, name: str) -> None:
        self.key(name)

    def _name(self, key: str) -> str:
        return key[len(self.prefix) + 1 :] if self.prefix else key

    def list(self, folder: str = "") -> list[StoredFile]:
        prefix = self.key(folder) + "/" if folder else (f"{self.prefix}/" if self.prefix else "")
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            for item in page.get("Contents", []):
                if item["Key"].endswith("/"):
                    continue  # a console's "folder" marker, not a file
                found.append(_object(self._name(item["Key"]), item["Size"], item))
            # Deeper prefixes are what a folder lists as sub-folders: not files.
            for sub in page.get("CommonPrefixes", []):
                found.append(StoredFile(self._name(sub["Prefix"].rstrip("/")), -1, ""))
        return sorted(found, key=lambda f: f.name)

    def stat(self, name: str) -> StoredFile | None:
        key = self.key(name)
        try:
            with _as_os_errors(name):
                head = self.client.head_object(Bucket=self.bucket, Key=key)
        except FileNotFoundError:
            return None
        return _object(name, head["ContentLength"], head)

    @contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        key = self.key(name)
        with _as_os_errors(name):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
            try:
                yield body
            finally:
                body.close()

    def put_bytes(self, name: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data, **extra)

    def put_file(self, name: str, source: Path, content_type: str | None = None) -> None:
        # Large files go up in parts; the object appears only once all have arrived.
        extra = {"ContentType": content_type} if content_type else None
        self.client.upload_file(str(source), self.bucket, self.key(name), ExtraArgs=extra)

    def link(self, name: str) -> str:
        """A signed URL, valid for :data:`SIGNED_LINK_SECONDS`, that needs no account."""
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.key(name)},
            ExpiresIn=SIGNED_LINK_SECONDS,
        )

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))

    def reference(self, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(name)}"


@contextmanager
def _as_os_errors(name: str) -> Iterator[None]:
    """The store's errors about one object as the file system's: ``FileNotFoundError``
    for a missing key, ``PermissionError`` for a refused one, ``OSError`` for the rest
    (callers skip such a file rather than fail for all)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = str(error.get("Code", "")), error.get("Message", "")
        if code in ("404", "NoSuchKey", "NotFound"):
            raise FileNotFoundError(f"{name}: no such object") from exc
        if code in ("403", "AccessDenied"):
            raise PermissionError(f"{name}: access denied") from exc
        raise OSError(f"{name}: {code} {message}".strip()) from exc
    except BotoCoreError as exc:
        raise OSError(f"{name}: {exc}") from exc


def _object(name: str, size: int, item: Any) -> StoredFile:
    """A listed or inspected object. Its version is the ETag with the modification time:
    any new upload changes one or the other. The time is cut to whole seconds, as HEAD
    reports it, where a listing may give milliseconds (MinIO does)."""
    modified = item.get("LastModified")
    stamp = modified.replace(microsecond=0).isoformat() if modified is not None else ""
    return StoredFile(
        name,
        int(size),
        f"{item.get('ETag', '')}@{stamp}",
        modified.timestamp() if modified is not None else 0.0,
    )


# The DuckDB secret through which a connection reads and writes s3:// URLs.
_DUCKDB_SECRET = "object_store"  # noqa: S105 (a name, not a password)


def duckdb_secret_sql(settings: S3Settings | None = None) -> str:
    """``CREATE SECRET`` for a DuckDB connection (with ``httpfs`` loaded) to reach the
    store as this process's ``AWS_*`` settings describe; never log it."""
    settings = settings or S3Settings.from_environment()
    options = ["TYPE s3", f"REGION '{sql_quote(settings.region)}'"]
    if settings.access_key_id:
        options.append(f"KEY_ID '{sql_quote(settings.access_key_id)}'")
        options.append(f"SECRET '{sql_quote(settings.secret_access_key or '')}'")
    if settings.endpoint_url:
        endpoint = urllib.parse.urlsplit(settings.endpoint_url)
        options += [
            f"ENDPOINT '{sql_quote(endpoint.netloc)}'",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'}",
        ]
    return f"CREATE OR REPLACE TEMPORARY SECRET {_DUCKDB_SECRET} ({', '.join(options)})"


def sql_quote(text: str) -> str:
    """``text`` inside a single-quoted SQL literal (the statements that take no parameter:
    ATTACH, LOAD, CREATE SECRET)."""
    return text.replace("'", "''")
