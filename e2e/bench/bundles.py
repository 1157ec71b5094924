"""Throughput of taskaction-bootstrap's fetch + verify + unpack against a plain s3fs read of the same object.

    .venv/bin/python e2e/bench/bundles.py [--mb 100] [--rounds 3] [--format tar.gz|tar]

Makes a bundle of --mb MB of compressible text (random words and hex, about 1.9:1 under gzip -6), uploads it to a
SeaweedFS it starts on 127.0.0.1 (tests/support/seaweedfs.py), then, per round, times:
- plain:     s3fs `cat_file` of the object (one GET, into memory): the storage's own speed;
- bootstrap: `bundles.bootstrap.run` (stat, ranged reads 4 in flight, sha256 while streaming, gunzip, tar stream
             mode with the safety checks, writes, rename into place): what an init container does;
- setup:     `bundles.bootstrap.run` of a one-file bundle: what every bootstrap pays before its first byte (a new
             storage client, whose botocore models are parsed anew, and a HEAD), which the warm plain read does not;
- unpack:    the same archive from memory through the standard library alone (tarfile `r|gz`, zlib, data filter);
- inflate-isal, inflate-zlib (.tar.gz only): the archive inflated from memory in one thread, output discarded (no
             tar, no writes), by python-isal (what the bootstrap uses) and by zlib: the ceiling of any gunzip of
             it, since a gzip stream inflates sequentially.
Throughputs are in MB/s of the archive (compressed) bytes, from the medians; setup is in seconds. The ratios are
bootstrap / plain (the goal), inflate-isal / plain (the best any bootstrap of this archive could reach) and
bootstrap / inflate-isal. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import hashlib
import io
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from isal import igzip

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from taskaction_operator.bundles.bootstrap import Options, run  # noqa: E402
from taskaction_operator.bundles.inflate import INFLATE_BLOCK  # noqa: E402
from tests.support.seaweedfs import running_seaweedfs  # noqa: E402

MB = 1_000_000


def make_tree(root: Path, total: int, seed: int = 7) -> int:
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(3, 10))) for _ in range(4000)]
    written = index = 0
    while written < total:
        size = min(total - written, rng.randint(20_000, 3_000_000))
        lines, n = [], 0
        while n < size:
            line = " ".join(rng.choices(words, k=10)) + " " + rng.randbytes(8).hex() + "\n"
            lines.append(line)
            n += len(line)
        data = "".join(lines).encode()[:size]
        directory = root / f"pkg{index % 12}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"mod{index}.py").write_bytes(data)
        written += len(data)
        index += 1
    return written


def make_archive(root: Path, out: Path) -> None:
    mode = "w:gz" if out.name.endswith(".gz") else "w"
    with tarfile.open(out, mode, **({"compresslevel": 6} if mode == "w:gz" else {})) as tar:  # type: ignore[call-overload]
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)


def make_tiny_archive(gz: bool) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w") as tar:
        tar.addfile(tarfile.TarInfo("empty.py"))
    return out.getvalue()


def inflater(module: ModuleType, data: bytes) -> Callable[[], None]:
    """Inflate `data` with gzip or isal.igzip, in blocks of the size the bootstrap uses, keeping nothing."""

    def inflate() -> None:
        with module.open(io.BytesIO(data)) as stream:
            while stream.read(INFLATE_BLOCK):
                pass

    return inflate


def timed(fn) -> float:
    gc.collect()  # earlier rounds' garbage (each bootstrap's storage client) would cost a full collection in this one
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100, help="MB of content in the bundle")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--format", choices=["tar.gz", "tar"], default="tar.gz", help="tar: no gzip, to see the pipeline without the inflate ceiling")
    parser.add_argument("--chunk-mib", type=int, default=8, help="the bootstrap's ranged-read size")
    parser.add_argument("--concurrency", type=int, default=4, help="the bootstrap's ranged reads in flight")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bundle-bench-"))
    try:
        content = make_tree(work / "src", args.mb * MB)
        archive = work / f"bundle.{args.format}"
        make_archive(work / "src", archive)
        data = archive.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        size = len(data)
        print(f"bundle: {content / MB:.1f} MB of content, a {size / MB:.1f} MB {args.format}", flush=True)

        gz = args.format == "tar.gz"
        with running_seaweedfs(work / "seaweedfs") as server:
            fs = server.s3fs()
            uri = server.url(f"bench/{archive.name}")
            fs.pipe_file(uri, data)
            tiny_uri = server.url(f"bench/setup.{args.format}")
            tiny = make_tiny_archive(gz)
            fs.pipe_file(tiny_uri, tiny)
            os.environ.update(server.flyte_env())
            gc.collect()  # the server's readiness-probe client, before an event loop runs in another thread

            def plain() -> None:
                assert len(fs.cat_file(uri)) == size

            counter = iter(range(10**6))

            def bootstrap(bundle: str = uri, digest: str = sha256, expected: int = content) -> None:
                dest = work / f"dest{next(counter)}"
                outcome = run(Options(bundle=bundle, dest=dest, sha256=digest, chunk_size=args.chunk_mib << 20, concurrency=args.concurrency))
                assert outcome.content_bytes == expected, outcome
                shutil.rmtree(dest)

            def setup() -> None:
                bootstrap(tiny_uri, hashlib.sha256(tiny).hexdigest(), 0)

            def unpack() -> None:
                dest = work / f"local{next(counter)}"
                with tarfile.open(fileobj=io.BytesIO(data), mode="r|*", bufsize=1 << 20) as tar:
                    tar.extractall(dest, filter="data")
                shutil.rmtree(dest)

            paths: dict[str, Callable[[], None]] = {"plain": plain, "bootstrap": bootstrap, "setup": setup, "unpack": unpack}
            if gz:
                paths.update({"inflate-isal": inflater(igzip, data), "inflate-zlib": inflater(gzip, data)})
            plain()  # warm the client and the server's caches
            rounds: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(args.rounds):
                for name, fn in paths.items():
                    rounds[name].append(timed(fn))

        rate = {name: size / MB / statistics.median(times) for name, times in rounds.items() if name != "setup"}
        print(f"{'path':<13} {'MB/s (archive)':>15} {'MB/s (content)':>15}  seconds per round")
        for name, times in rounds.items():
            rates = f"{'-':>15} {'-':>15}" if name == "setup" else f"{rate[name]:>15.1f} {rate[name] * content / size:>15.1f}"
            print(f"{name:<13} {rates}  " + " ".join(f"{t:.3f}" for t in times))
        ratios = {"bootstrap/plain": rate["bootstrap"] / rate["plain"]}
        if gz:
            ratios["inflate-isal/plain"] = rate["inflate-isal"] / rate["plain"]
            ratios["bootstrap/inflate-isal"] = rate["bootstrap"] / rate["inflate-isal"]
        print("ratios: " + ", ".join(f"{name} = {value:.2f}" for name, value in ratios.items()) + " (goal: bootstrap/plain >= 0.8)")
        print(
            json.dumps(
                {
                    "bench": "bundles",
                    "format": args.format,
                    "content_bytes": content,
                    "archive_bytes": size,
                    "rounds": args.rounds,
                    "mb_s": {name: round(value, 1) for name, value in rate.items()},
                    "setup_s": round(statistics.median(rounds["setup"]), 3),
                    "ratios": {name: round(value, 3) for name, value in ratios.items()},
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
