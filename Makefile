# taskaction-operator. The two commands a new machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(HOME)/.cache/taskaction-operator/bin:$(PATH)

.PHONY: venv demo test test-unit test-storage test-cluster test-e2e test-node bench chaos crd clean

include e2e/Makefile.cluster

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Brings the local cluster up if no cluster is configured, installs the CRD, runs the operator, submits
# examples/hello-run.yaml and shows its progress to the end.
demo: venv
	$(PY) e2e/demo.py

# Every test tier. The cluster tier runs on the cluster KUBECONFIG names if it answers, otherwise on the local
# one, brought up by its fixture (e2e/cluster.py up): `make test` fails, never skips, if it cannot start it.
test: test-unit test-storage test-cluster test-e2e test-node

test-unit: venv
	$(PY) -m pytest tests/unit -q

# A real S3 server (SeaweedFS from PyPI, loopback) and the real Flyte SDK's a0 entrypoint.
test-storage: venv
	$(PY) -m pytest tests/storage -q

test-cluster: venv
	$(PY) -m pytest tests/cluster -q

# The Helm chart: lint, schema, render validated offline and by the API server, install under restricted Pod
# Security, and the real operator run with the chart's ServiceAccount token (helm built by e2e/install-helm.sh).
test-e2e: venv
	$(PY) -m pytest tests/e2e -q

# Task pods really run: a real node (kubelet built like the control plane, containerd + runc from Debian) joined to
# the local cluster, images built by buildah and imported into its containerd (docs/testing.md, node tier). Root.
# Leaves the node running for the next run; `make cluster-down` stops it.
test-node: venv
	$(PY) -m pytest tests/node -q

# e2e/bench/bench.py: on a kwok cluster of its own. GO_EXECUTOR=<path of flyteorg/flyte's executor> adds the Go
# executor side by side; BENCH_ARGS passes options (--rate 50, --profile, --memory 10000: see its --help).
bench: venv
	$(PY) e2e/bench/bench.py $(BENCH_ARGS)
	$(PY) e2e/bench/actions.py
	$(PY) e2e/bench/bundles.py --rounds 5

# The operator under faults (kill -9, SIGTERM, API server and etcd restarts, a 410 watch gap, pods, nodes and S3 gone)
# and 1,000 generated bad TaskActions, on a kwok cluster of its own (`--name chaos`, which it restarts): the figures go
# to docs/reliability.md. Pick scenarios with CHAOS_ARGS="--scenario kill9 --count 500".
chaos: venv
	$(PY) e2e/chaos/chaos.py $(CHAOS_ARGS)

# Regenerate the checked-in files that come from code.
crd: venv
	$(PY) -m taskaction_operator.api.crd > crds/taskactions.flyte.org.yaml
	cp crds/taskactions.flyte.org.yaml charts/taskaction-operator/files/
	$(PY) examples/make_examples.py > examples/hello-run.yaml

clean:
	rm -rf $(VENV) .pytest_cache
