"""Fast-registered code bundles for any image: `taskaction-bootstrap` fetches a bundle (fsspec: s3://, gs://, https://,
file://), verifies it, unpacks it safely into a directory and execs the task's command there.

Modules: `errors` (the exit-code / termination-message contract the operator imports; light), `fetch` (storage,
retries), `unpack` (the safe tar extraction), `digests`, `cache` (per-node cache), `bootstrap` (the whole),
`__main__` (the CLI), `bench` (throughput against SeaweedFS). See docs/bundles.md.
"""
