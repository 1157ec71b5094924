"""Fast-registered code bundles for any image: `taskaction-bootstrap` fetches a bundle (s3:// through obstore; gs://,
https://, file:// through fsspec), verifies it, unpacks it safely into a directory and execs the task's command there.

Modules: `errors` (the exit-code / termination-message contract the operator imports; light), `objects` (where the
bytes come from), `fetch` (ranged reads, retries), `inflate` (the download stream, inflated and hashed in other threads), `tar_safety` (what a member may be),
`unpack` (the extraction of each member), `digests`, `cache` (per-node cache), `bootstrap` (the whole), `__main__`
(the CLI); e2e/bench/bundles.py measures throughput against SeaweedFS. See docs/bundles.md.
"""
