#!/usr/bin/env bash
# Install helm (v3) from its published Go module into the local cluster's bin directory, as the release Makefile
# builds it (version and Kubernetes capability ldflags set, so `helm version` and `.Capabilities` are right).
# Idempotent: a helm that already reports the wanted version is not rebuilt. Prints the helm path on stdout.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"   # latest v3.x on the Go module proxy: go list -m -versions helm.sh/helm/v3
# helm's Makefile derives these from its k8s.io/client-go requirement (v0.37.0 for v3.22.0 -> Kubernetes 1.37).
HELM_K8S_MAJOR="${HELM_K8S_MAJOR:-1}"
HELM_K8S_MINOR="${HELM_K8S_MINOR:-37}"
CACHE="${TASKACTION_CACHE:-$HOME/.cache/taskaction-operator}"
OUT="$CACHE/bin"
mkdir -p "$OUT"
say() { printf '[install-helm] %s\n' "$*" >&2; }

current="$("$OUT/helm" version --template '{{.Version}}' 2>/dev/null || true)"
if [ "$current" = "$HELM_VERSION" ]; then
  say "cached: helm $HELM_VERSION"
  echo "$OUT/helm"
  exit 0
fi
command -v go >/dev/null 2>&1 || { say "ERROR: 'go' is not on PATH; it is needed to build helm into $OUT"; exit 1; }
say "building helm $HELM_VERSION (${current:-not installed}; about 1-3 min with warm Go caches)"
LDF="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  LDF="$LDF -X $p.k8sVersionMajor=${HELM_K8S_MAJOR} -X $p.k8sVersionMinor=${HELM_K8S_MINOR}"
done
GOBIN="$OUT" CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod" go install -trimpath -ldflags "$LDF" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
got="$("$OUT/helm" version --template '{{.Version}}')"
[ "$got" = "$HELM_VERSION" ] || { say "ERROR: built helm reports $got, wanted $HELM_VERSION"; exit 1; }
say "helm $got in $OUT"
echo "$OUT/helm"
