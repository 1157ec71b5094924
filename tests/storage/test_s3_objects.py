"""storage.objects and storage.inputs through s3:// (obstore) against a real S3 server (SeaweedFS on 127.0.0.1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest
from flyteidl2.core import literals_pb2
from flyteidl2.task import common_pb2

from taskaction_operator.storage import s3
from taskaction_operator.storage.inputs import read_inputs
from taskaction_operator.storage.objects import Listed, list_directory, read_object, write_object
from tests.support.seaweedfs import SECRET_KEY, SeaweedFS


@pytest.fixture
def prefix(seaweedfs: SeaweedFS) -> str:
    return seaweedfs.url(f"objects/r{uuid.uuid4().hex[:10]}/a0/1")


async def test_written_objects_are_read_back(seaweedfs: SeaweedFS, prefix: str) -> None:
    await write_object(f"{prefix}/outputs.pb", b"\x0a\x00", seaweedfs.settings())
    assert await read_object(f"{prefix}/outputs.pb", seaweedfs.settings()) == b"\x0a\x00"
    assert seaweedfs.s3fs().cat_file(f"{prefix}/outputs.pb") == b"\x0a\x00"


async def test_a_listing_is_what_is_directly_under_the_prefix(seaweedfs: SeaweedFS, prefix: str) -> None:
    fs = seaweedfs.s3fs()
    fs.pipe_file(f"{prefix}/outputs.pb", b"")
    fs.pipe_file(f"{prefix}/_flytecheckpoints/outputs.pb", b"x")  # deeper: not under the prefix itself
    fs.pipe_file(f"{prefix}0/error.pb", b"x")  # attempt 10 of the same action: a sibling, not a child
    listed = await list_directory(prefix, seaweedfs.settings())
    assert list(listed) == ["outputs.pb"] and listed["outputs.pb"].is_file
    assert await list_directory(f"{prefix}/never-written", seaweedfs.settings()) == {}


async def test_the_version_is_as_s3fs_listed_it(seaweedfs: SeaweedFS, prefix: str) -> None:
    # error_version is kept in the status: the one an operator that read through s3fs stored must still match.
    fs = seaweedfs.s3fs()
    fs.pipe_file(f"{prefix}/error.pb", b"first")
    (entry,) = fs.ls(prefix, detail=True, refresh=True)
    assert await list_directory(prefix, seaweedfs.settings()) == {
        "error.pb": Listed(True, f"{entry['ETag']}|{entry['LastModified']}")
    }


async def test_a_missing_object_is_not_found(seaweedfs: SeaweedFS, prefix: str) -> None:
    with pytest.raises(FileNotFoundError):
        await read_object(f"{prefix}/error.pb", seaweedfs.settings())


async def test_a_missing_bucket_is_no_bucket_not_a_missing_object(seaweedfs: SeaweedFS) -> None:
    uri = "s3://no-such-bucket-here/objects/a0/1"
    with pytest.raises(s3.NoBucket, match="no-such-bucket-here"):
        await read_object(f"{uri}/error.pb", seaweedfs.settings())
    with pytest.raises(s3.NoBucket):
        await list_directory(uri, seaweedfs.settings())


async def test_refused_credentials_say_why_in_one_line_without_the_secret(seaweedfs: SeaweedFS, prefix: str) -> None:
    wrong = "wrong-secret-value-that-must-not-leak"
    for settings, code in (
        (seaweedfs.settings(storage_secret_access_key=wrong), "SignatureDoesNotMatch"),
        (seaweedfs.settings(storage_access_key_id="nobody-knows-me", storage_secret_access_key=wrong), "InvalidAccessKeyId"),
    ):
        for attempt in (read_object(f"{prefix}/error.pb", settings), list_directory(prefix, settings)):
            with pytest.raises(s3.S3Error) as raised:
                await attempt
            text = str(raised.value)
            assert "403 Forbidden" in text and code in text, text
            assert "\n" not in text and wrong not in text and SECRET_KEY not in text


async def test_inputs_through_obstore(seaweedfs: SeaweedFS, prefix: str) -> None:
    inputs = common_pb2.Inputs(
        literals=[common_pb2.NamedLiteral(name="x", value=literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=7))))]
    )
    seaweedfs.s3fs().pipe_file(f"{prefix}/inputs.pb", inputs.SerializeToString())
    found = await read_inputs(f"{prefix}/inputs.pb", seaweedfs.settings())
    assert found.error is None and found.literals is not None and found.literals["x"].scalar.primitive.integer == 7
    assert (await read_inputs(f"{prefix}/none.pb", seaweedfs.settings())).error == f"inputs not found at {prefix}/none.pb"
    no_bucket = await read_inputs("s3://no-such-bucket-here/inputs.pb", seaweedfs.settings())
    assert no_bucket.error is not None and "bucket 'no-such-bucket-here' does not exist" in no_bucket.error


def test_the_operator_reads_s3_without_botocore(seaweedfs: SeaweedFS, prefix: str) -> None:
    """botocore, s3fs and aiobotocore cost the operator ~38 MiB: an s3:// check must not load them."""
    seaweedfs.s3fs().pipe_file(f"{prefix}/outputs.pb", b"")
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from taskaction_operator.settings import Settings
        from taskaction_operator.storage.outputs import check_outputs
        settings = Settings(storage_endpoint={seaweedfs.endpoint!r}, storage_access_key_id={seaweedfs.access_key!r},
                            storage_secret_access_key={seaweedfs.secret_key!r})
        assert asyncio.run(check_outputs({prefix!r}, settings)).outputs_found
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("botocore", "aiobotocore", "s3fs", "boto3")))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
