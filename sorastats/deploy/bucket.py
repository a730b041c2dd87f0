"""The S3 I/O of a deploy: one small class over boto3 (why boto3: docs/deploy.md). Every
error the operator can fix (credentials, endpoint, bucket) becomes a `BucketError` with one
line that never contains a secret."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

# Codes that mean the credentials are wrong (S3, MinIO, R2 and B2 spell them these ways).
_AUTH_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
     "ExpiredToken", "InvalidClientTokenId", "403"}
)  # fmt: skip


class BucketError(RuntimeError):
    """A deploy cannot talk to the bucket; the message is one line for the operator."""


@dataclass(frozen=True)
class Target:
    bucket: str
    prefix: str  # "" or ends with "/"

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"--to must look like s3://BUCKET[/PREFIX], got {url!r}")
        prefix = parts.path.strip("/")
        return cls(parts.netloc, prefix + "/" if prefix else "")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


class Bucket:
    """Objects under one bucket prefix. Thread-safe (boto3 clients are); counts the
    requests it makes by operation (`requests`), which the tests and the result report."""

    def __init__(
        self,
        target: Target,
        endpoint_url: str | None,
        pool: int = 16,
        website_redirects: bool | None = None,
    ) -> None:
        self.target = target
        # `x-amz-website-redirect-location` is S3's own (its website endpoint answers it
        # with a 301); other stores may refuse an unknown header, so by default only AWS.
        self.website_redirects = (
            is_aws(endpoint_url) if website_redirects is None else (website_redirects)
        )
        self.endpoint = _shown(endpoint_url) if endpoint_url else "AWS S3"
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        config = botocore.config.Config(
            max_pool_connections=pool,
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            # botocore's default CRC32 checksum headers are refused by some S3-compatible
            # stores (B2, older MinIO and R2 releases); send them only where S3 requires.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            session = boto3.session.Session(botocore_session=_botocore_session())
            self._s3: S3Client = session.client("s3", endpoint_url=endpoint_url, config=config)
        except botocore.exceptions.BotoCoreError as exc:
            raise BucketError(f"cannot set up the S3 client: {exc}") from None
        self._s3.meta.events.register("before-call.s3.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.requests[model.name] += 1

    def _key(self, rel: str) -> str:
        return self.target.prefix + rel

    def get(self, rel: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        try:
            with self._errors():
                return self._s3.get_object(Bucket=self.target.bucket, Key=self._key(rel))[
                    "Body"
                ].read()
        except _Missing:
            return None

    def put(self, rel: str, body: bytes, headers: dict[str, str]) -> None:
        args: dict[str, Any] = {
            "Bucket": self.target.bucket,
            "Key": self._key(rel),
            "Body": body,
            "ContentType": headers["Content-Type"],
            "CacheControl": headers["Cache-Control"],
        }
        if "Content-Encoding" in headers:
            args["ContentEncoding"] = headers["Content-Encoding"]
        if "Website-Redirect-Location" in headers and self.website_redirects:
            args["WebsiteRedirectLocation"] = headers["Website-Redirect-Location"]
        with self._errors():
            self._s3.put_object(**args)

    def copy(self, src: str, dst: str, redirect: str = "") -> bool:
        """Server-side copy with the source's headers; False when `src` does not exist.
        The website redirect is not copied by S3 (it is per object): pass it again."""
        args: dict[str, Any] = {
            "Bucket": self.target.bucket,
            "Key": self._key(dst),
            "CopySource": {"Bucket": self.target.bucket, "Key": self._key(src)},
            "MetadataDirective": "COPY",
        }
        if redirect and self.website_redirects:
            args["WebsiteRedirectLocation"] = redirect
        try:
            with self._errors():
                self._s3.copy_object(**args)
        except _Missing:
            return False
        return True

    def delete(self, rels: list[str]) -> None:
        for start in range(0, len(rels), 1000):  # DeleteObjects takes up to 1,000 keys
            chunk = rels[start : start + 1000]
            with self._errors():
                answer = self._s3.delete_objects(
                    Bucket=self.target.bucket,
                    Delete={"Objects": [{"Key": self._key(r)} for r in chunk], "Quiet": True},
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise BucketError(
                    f"cannot delete {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )

    def list(self, prefix: str, *, folders: bool = False) -> Iterator[str]:
        """Names under `prefix` (relative to it): objects, or with `folders` the next
        level's folder names."""
        paginator = self._s3.get_paginator("list_objects_v2")
        args: dict[str, Any] = {"Bucket": self.target.bucket, "Prefix": self._key(prefix)}
        if folders:
            args["Delimiter"] = "/"
        cut = len(self._key(prefix))
        with self._errors():
            for page in paginator.paginate(**args):
                if folders:
                    for common in page.get("CommonPrefixes", []):
                        yield common["Prefix"][cut:].rstrip("/")
                else:
                    for obj in page.get("Contents", []):
                        yield obj["Key"][cut:]

    def _errors(self, *, head: bool = False) -> _ErrorMap:
        return _ErrorMap(self, head)


def is_aws(endpoint_url: str | None) -> bool:
    """AWS S3 itself: no endpoint given, or one of its own hosts."""
    if endpoint_url is None:
        return True
    host = urlsplit(endpoint_url).hostname or ""
    return host.endswith(".amazonaws.com")


_LOADER: list[botocore.loaders.Loader] = []


def _botocore_session() -> botocore.session.Session:
    """A fresh session (credentials are looked up again: a program may change them) that
    shares the parsed S3 API model with the sessions before it (0.2 s of CPU each)."""
    session = botocore.session.Session()
    if not _LOADER:
        _LOADER.append(botocore.loaders.create_loader())
    session.register_component("data_loader", _LOADER[0])
    return session


def _shown(url: str) -> str:
    """The endpoint as printed: scheme, host and port (never a user:password@ part)."""
    parts = urlsplit(url)
    host = parts.hostname or url
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class _Missing(Exception):
    """The object asked for does not exist (handled where a missing object is normal)."""


class _ErrorMap:
    def __init__(self, bucket: Bucket, head: bool) -> None:
        self.bucket = bucket
        self.head = head  # a HEAD answer has no body: a bare 404 means no bucket

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        where = f"{self.bucket.target} at {self.bucket.endpoint}"
        if isinstance(exc, botocore.exceptions.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code == "NoSuchKey":
                raise _Missing from None
            if code == "NoSuchBucket" or (code == "404" and self.head):
                raise BucketError(f"no such bucket: {where}") from None
            if code in _AUTH_CODES:
                raise BucketError(
                    f"the credentials were refused by {where} ({code}): check "
                    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
                ) from None
            raise BucketError(f"{where}: {code}: {error.get('Message', exc)}") from None
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            raise BucketError(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            ) from None
        if isinstance(exc, botocore.exceptions.EndpointConnectionError | ConnectionError):
            raise BucketError(f"cannot connect to {self.bucket.endpoint}: is it up?") from None
        if isinstance(exc, botocore.exceptions.BotoCoreError):
            raise BucketError(f"{where}: {exc}") from None
