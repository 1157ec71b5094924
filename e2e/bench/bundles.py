"""Throughput of taskaction-bootstrap's fetch + verify + unpack against a plain s3fs read of the same object.

    .venv/bin/python e2e/bench/bundles.py [--mb 100] [--rounds 3] [--format tar.gz|tar]

Makes a bundle of --mb MB of compressible text (random words and hex, about 1.9:1 under gzip -6), uploads it to a
SeaweedFS it starts on 127.0.0.1 (tests/support/seaweedfs.py), then, per round, times:
- plain:     s3fs `cat_file` of the object (one GET, into memory): the storage's own speed;
- bootstrap: `bundles.bootstrap.run` (stat, ranged reads 4 in flight, sha256 while streaming, gunzip, tar stream
             mode with the safety checks, writes, rename into place): what an init container does;
- unpack:    the same archive from memory through tarfile `r|gz` with the data filter (no network): the CPU ceiling.
Throughputs are in MB/s of the archive (compressed) bytes; the ratio is bootstrap / plain (medians). Prints a table
and one JSON line.
"""

from __future__ import annotations

import argparse
import gc
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from taskaction_operator.bundles.bootstrap import Options, run  # noqa: E402
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


def timed(fn) -> float:
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
        print(f"bundle: {content / MB:.1f} MB of content, {size / MB:.1f} MB compressed", flush=True)

        with running_seaweedfs(work / "seaweedfs") as server:
            fs = server.s3fs()
            uri = server.url(f"bench/{archive.name}")
            fs.pipe_file(uri, data)
            os.environ.update(server.flyte_env())
            gc.collect()  # the server's readiness-probe client, before an event loop runs in another thread

            def plain() -> None:
                assert len(fs.cat_file(uri)) == size

            counter = iter(range(10**6))

            def bootstrap() -> None:
                dest = work / f"dest{next(counter)}"
                outcome = run(Options(bundle=uri, dest=dest, sha256=sha256, chunk_size=args.chunk_mib << 20, concurrency=args.concurrency))
                assert outcome.content_bytes == content, outcome
                shutil.rmtree(dest)

            def unpack() -> None:
                dest = work / f"local{next(counter)}"
                with tarfile.open(fileobj=io.BytesIO(data), mode="r|*", bufsize=1 << 20) as tar:
                    tar.extractall(dest, filter="data")
                shutil.rmtree(dest)

            plain()  # warm the client and the server's caches
            rounds: dict[str, list[float]] = {"plain": [], "bootstrap": [], "unpack": []}
            for _ in range(args.rounds):
                for name, fn in (("plain", plain), ("bootstrap", bootstrap), ("unpack", unpack)):
                    rounds[name].append(timed(fn))

        rate = {name: size / MB / statistics.median(times) for name, times in rounds.items()}
        ratio = rate["bootstrap"] / rate["plain"]
        print(f"{'path':<10} {'MB/s (archive)':>15} {'MB/s (content)':>15}  seconds per round")
        for name, times in rounds.items():
            print(
                f"{name:<10} {rate[name]:>15.1f} {rate[name] * content / size:>15.1f}  "
                + " ".join(f"{t:.3f}" for t in times)
            )
        print(f"ratio bootstrap/plain = {ratio:.2f} (goal >= 0.8); bootstrap/unpack-ceiling = {rate['bootstrap'] / rate['unpack']:.2f}")
        print(
            json.dumps(
                {
                    "bench": "bundles",
                    "format": args.format,
                    "content_bytes": content,
                    "archive_bytes": size,
                    "rounds": args.rounds,
                    "plain_s3fs_mb_s": round(rate["plain"], 1),
                    "bootstrap_mb_s": round(rate["bootstrap"], 1),
                    "local_unpack_mb_s": round(rate["unpack"], 1),
                    "ratio": round(ratio, 3),
                    "ratio_to_unpack_ceiling": round(rate["bootstrap"] / rate["unpack"], 3),
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                }
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
