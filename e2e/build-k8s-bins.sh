#!/usr/bin/env bash
# Build the local cluster's binaries from published Go modules (no Docker, no downloads of prebuilt binaries):
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (one version, so client and server never skew),
# etcd, and kwok + kwokctl. Cached under $CACHE; a binary that already reports the wanted version is not rebuilt.
#
#   e2e/build-k8s-bins.sh                 # the control plane (what `e2e/cluster.py up` needs)
#   e2e/build-k8s-bins.sh --with-kubelet  # also the kubelet of the same version (`e2e/cluster.py up --with-node`)
set -euo pipefail
WITH_KUBELET=""
case "${1:-}" in
  --with-kubelet) WITH_KUBELET=1 ;;
  "") ;;
  *) echo "usage: $0 [--with-kubelet]" >&2; exit 2 ;;
esac
K8S_VERSION="${K8S_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.14}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CACHE="${TASKACTION_CACHE:-$HOME/.cache/taskaction-operator}"
OUT="$CACHE/bin"
CMDS="kube-apiserver kube-controller-manager kube-scheduler kubectl"
MINOR="${K8S_VERSION#1.}"; MINOR="${MINOR%%.*}"
STAGING="v0.${K8S_VERSION#1.}"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
mkdir -p "$OUT"
start=$SECONDS
say() { printf '[build-k8s-bins +%ss] %s\n' "$((SECONDS - start))" "$*"; }

# A background ticker so a long build shows it is alive.
ticker() { while sleep 60; do say "still building ($1)..."; done; }

# have_version BINARY REGEX [VERSION-ARGS...]: the binary exists and reports the wanted version.
have_version() {
  local bin="$1" want="$2"; shift 2
  local out
  [ -x "$bin" ] || return 1
  # capture first: with pipefail, `bin | grep -q` fails when grep exits early and bin gets SIGPIPE
  out="$("$bin" "${@:---version}" 2>/dev/null)" || return 1
  grep -q "$want" <<<"$out"
}

need_k8s=""
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  have_version "$OUT/$c" "v${K8S_VERSION}\$" || need_k8s=1
done
# kubectl has no --version flag (it fails with "unknown flag"), so ask it properly
have_version "$OUT/kubectl" "^Client Version: v${K8S_VERSION}\$" version --client || need_k8s=1
need_go() {
  command -v go >/dev/null 2>&1 && return 0
  say "ERROR: 'go' is not on PATH; it is needed to build $1 into $OUT (Go >= 1.26, from go.dev or the Go module proxy's toolchain)" >&2
  exit 1
}
W="$(mktemp -d)"; trap 'rm -rf "$W"; [ -n "${TICK:-}" ] && kill "$TICK" 2>/dev/null || true' EXIT

# build_k8s NAME CMD...: build k8s.io/kubernetes/cmd/CMD... into $OUT from a throw-away wrapper module that replaces
# every staging module k8s.io/kubernetes's go.mod points at ./staging/ with its published v0.N.P.
build_k8s() {
  local name="$1"; shift
  need_go "$name"
  mkdir "$W/$name"; cd "$W/$name"
  go mod init "local/$name" >/dev/null 2>&1
  GOMOD="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["GoMod"])')"
  for m in $(sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\)[[:space:]]*=>[[:space:]]*\./staging/.*#\1#p' "$GOMOD"); do
    go mod edit -replace="${m}=${m}@${STAGING}"
  done
  for c in "$@"; do go get "k8s.io/kubernetes/cmd/${c}@v${K8S_VERSION}" >/dev/null 2>&1 || go get "k8s.io/kubernetes/cmd/${c}@v${K8S_VERSION}"; done
  local ldf="-s -w" p pkgs="" c
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=v${K8S_VERSION} -X $p.gitMajor=1 -X $p.gitMinor=${MINOR} -X $p.gitTreeState=clean"
  done
  for c in "$@"; do pkgs="$pkgs k8s.io/kubernetes/cmd/$c"; done
  ticker "$name" & TICK=$!
  CGO_ENABLED=0 go build -trimpath -ldflags "$ldf" -o "$OUT/" $pkgs
  kill "$TICK" 2>/dev/null || true; TICK=""
  say "$name done"
}

if [ -n "$need_k8s" ]; then
  say "building Kubernetes v${K8S_VERSION}: $CMDS (cold, empty Go caches: about 6 min on 2 cores)"
  build_k8s kubernetes $CMDS
else
  say "cached: kubernetes v${K8S_VERSION}"
fi

if [ -n "$WITH_KUBELET" ]; then
  if have_version "$OUT/kubelet" "v${K8S_VERSION}\$"; then
    say "cached: kubelet v${K8S_VERSION}"
  else
    # Its own wrapper and go build: adding it to the control plane's list would relink those binaries too.
    say "building kubelet v${K8S_VERSION} (about 1 min with the Go caches the control plane left)"
    build_k8s kubelet kubelet
  fi
fi

if ! have_version "$OUT/etcd" "etcd Version: ${ETCD_VERSION}"; then
  say "building etcd v${ETCD_VERSION}"
  need_go etcd
  mkdir "$W/etcd"; cd "$W/etcd"
  go mod init local/etcdbin >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >"$W/etcd-get.log" 2>&1 || { cat "$W/etcd-get.log" >&2; exit 1; }
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
else
  say "cached: etcd v${ETCD_VERSION}"
fi

if ! have_version "$OUT/kwokctl" "v${KWOK_VERSION} " || ! have_version "$OUT/kwok" "v${KWOK_VERSION} "; then
  say "building kwok v${KWOK_VERSION}"
  need_go kwok
  GOBIN="$OUT" CGO_ENABLED=0 go install -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v${KWOK_VERSION}" \
    "sigs.k8s.io/kwok/cmd/kwok@v${KWOK_VERSION}" "sigs.k8s.io/kwok/cmd/kwokctl@v${KWOK_VERSION}"
else
  say "cached: kwok v${KWOK_VERSION}"
fi
"$OUT/kube-apiserver" --version
# not `etcd --version | head -1`: with pipefail that fails (141) when head exits before etcd is done writing
etcd_version="$("$OUT/etcd" --version)"; echo "${etcd_version%%$'\n'*}"
say "all binaries in $OUT"
