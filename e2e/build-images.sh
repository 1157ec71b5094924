#!/usr/bin/env bash
# Builds the operator and runtime images (Dockerfile targets `operator` and `runtime`) without a Docker engine:
# buildah (no daemon) on a base image made by debootstrap (Debian bookworm minbase + python3 + python3-venv +
# ca-certificates), so no container registry is needed. Root only (buildah's storage, debootstrap).
#
#   e2e/build-images.sh [--smoke] [--sdk] [--containerd SOCKET]
#     --smoke             also run the runtime image's taskaction-bootstrap on a file:// bundle
#     --sdk               also the Flyte SDK task image (e2e/images/flyte-sdk.Containerfile: runtime + flyte)
#     --containerd SOCK   import the images into that containerd's k8s.io namespace (the node of
#                         `e2e/cluster.py up --with-node`), where the kubelet finds them; nothing is ever pulled
#
# Tags are a hash of the build's inputs (Dockerfile, .dockerignore, pyproject.toml, README.md, operator/; the
# Containerfile and the flyte pin for the SDK image), never `latest`: an image whose tag exists is not rebuilt, and
# one already in containerd is not imported again, so a warm run builds nothing. stdout is one line per image,
# NAME=IMAGE (BASE_IMAGE, OPERATOR_IMAGE, RUNTIME_IMAGE, SDK_IMAGE); progress goes to stderr.
#
# Environment: TAG (default: the inputs' hash), IMAGE_CACHE (default ~/.cache/taskaction-operator/images: the
# debootstrap rootfs as a tarball, reused by later runs), DEBIAN_MIRROR (default: the first URI of the host's apt
# sources), SUITE. Not part of `make test` (several minutes on a cold machine). See docs/bundles.md.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
SDK_CONTAINERFILE=$REPO/e2e/images/flyte-sdk.Containerfile
# The Flyte SDK the SDK image gets: the pin of pyproject's `sdk` extra, so tasks serialize and run with one version.
FLYTE_VERSION=$(sed -n 's/^sdk = \["flyte==\([^"]*\)"\]/\1/p' "$REPO/pyproject.toml")
inputs_hash() {
    (cd "$REPO" && find Dockerfile .dockerignore pyproject.toml README.md operator -type f \
        -not -path '*/__pycache__/*' -not -name '*.pyc' -not -path '*.egg-info/*' -print0 \
        | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-12
}
TAG=${TAG:-src-$(inputs_hash)}
SDK_TAG=$TAG-flyte$FLYTE_VERSION-$(sha256sum "$SDK_CONTAINERFILE" | cut -c1-8)
SUITE=${SUITE:-bookworm}
IMAGE_CACHE=${IMAGE_CACHE:-$HOME/.cache/taskaction-operator/images}
BASE_IMAGE=localhost/taskaction-base:${SUITE}-python3
OPERATOR_IMAGE=localhost/taskaction-operator:${TAG}
RUNTIME_IMAGE=localhost/taskaction-runtime:${TAG}
SDK_IMAGE=localhost/taskaction-sdk-task:${SDK_TAG}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# RUN steps in a chroot: no OCI runtime, no cgroups (crun refuses the hybrid cgroup v1/v2 setup of these machines:
# "cgroups in hybrid mode not supported"). Override with BUILDAH_ISOLATION=oci where the runtime works.
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
SMOKE=false
SDK=false
CONTAINERD=""
while (($#)); do
    case $1 in
        --smoke) SMOKE=true ;;
        --sdk) SDK=true ;;
        --containerd) CONTAINERD=${2:?--containerd needs the socket path}; shift ;;
        *) echo "usage: $0 [--smoke] [--sdk] [--containerd SOCKET]" >&2; exit 2 ;;
    esac
    shift
done
[[ $TAG == latest ]] && { echo "build-images.sh: TAG=latest would make the kubelet pull: refused" >&2; exit 2; }

log() { printf '\n== %s (%ss)\n' "$*" "$SECONDS" >&2; }
timed() { local start=$SECONDS; "$@"; TIMES+=("$(printf '%-34s %4ss' "${*:1:3}" $((SECONDS - start)))"); }
TIMES=()

if [[ $(id -u) != 0 ]]; then
    echo "build-images.sh: run as root (buildah's storage and debootstrap need it)" >&2
    exit 2
fi

need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "$DEBIAN_MIRROR"; return; fi
    local uri
    uri=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | grep -v security | head -1 | awk '{print ($1 == "deb") ? $2 : $2}')
    echo "${uri:-http://deb.debian.org/debian}"
}

make_rootfs() {
    local rootfs_tar=$1 work
    work=$(mktemp -d "$IMAGE_CACHE/rootfs.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" RETURN
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$SUITE" "$work/root" "$(mirror)" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; return 1; }
    # Smaller image: no apt lists, docs or man pages (apt itself stays, for images derived from this one).
    rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"*
    tar -C "$work/root" --numeric-owner -cf "$rootfs_tar.tmp" .
    mv "$rootfs_tar.tmp" "$rootfs_tar"
}

import_base() {
    local rootfs_tar=$1 container mnt
    container=$(buildah from scratch)
    mnt=$(buildah mount "$container")
    tar -C "$mnt" --numeric-owner -xf "$rootfs_tar"
    buildah umount "$container" >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/sh "$container"
    buildah commit --quiet --rm "$container" "$BASE_IMAGE" >/dev/null
}

mkdir -p "$IMAGE_CACHE"
ROOTFS_TAR=$IMAGE_CACHE/$SUITE-minbase-python3.tar
if ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
    if [[ ! -s $ROOTFS_TAR ]]; then
        log "debootstrap $SUITE minbase + python3 -> $ROOTFS_TAR"
        timed make_rootfs "$ROOTFS_TAR"
    fi
    log "import $ROOTFS_TAR as $BASE_IMAGE"
    timed import_base "$ROOTFS_TAR"
fi

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

bud() {
    local target=$1 image=$2
    if have_image "$image"; then log "cached: $image"; return; fi
    log "buildah bud --target $target -> $image"
    # pip in RUN steps needs the host's CA bundle (the machine's TLS setup), mounted read-only for the build only.
    buildah bud --quiet --layers --target "$target" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -v "$CA_BUNDLE:$CA_BUNDLE:ro" -t "$image" -f "$REPO/Dockerfile" "$REPO" >/dev/null
}
timed bud operator "$OPERATOR_IMAGE"
timed bud runtime "$RUNTIME_IMAGE"

bud_sdk() {
    if have_image "$SDK_IMAGE"; then log "cached: $SDK_IMAGE"; return; fi
    log "buildah bud $SDK_CONTAINERFILE (flyte $FLYTE_VERSION) -> $SDK_IMAGE"
    buildah bud --quiet --layers --build-arg "RUNTIME_IMAGE=$RUNTIME_IMAGE" --build-arg "FLYTE_VERSION=$FLYTE_VERSION" \
        -v "$CA_BUNDLE:$CA_BUNDLE:ro" -t "$SDK_IMAGE" -f "$SDK_CONTAINERFILE" "$REPO/e2e/images" >/dev/null
}
$SDK && timed bud_sdk

if $SMOKE; then
    log "smoke: the runtime image's taskaction-bootstrap on a file:// bundle"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    mkdir -p "$work/src/pkg" "$work/mnt"
    printf 'def greet():\n    return "hello from the bundle"\n' >"$work/src/pkg/hello.py"
    touch "$work/src/pkg/__init__.py"
    tar -C "$work/src" -czf "$work/mnt/bundle.tar.gz" pkg
    sha=$(sha256sum "$work/mnt/bundle.tar.gz" | cut -d' ' -f1)
    chmod 0777 "$work/mnt"
    smoke() {
        container=$(buildah from "$RUNTIME_IMAGE")
        buildah run --user 65532:65532 -v "$work/mnt:/mnt" "$container" -- \
            taskaction-bootstrap --bundle file:///mnt/bundle.tar.gz --dest /mnt/code --sha256 "$sha" --cache-dir /mnt/cache \
            -- python -c 'import os, pkg.hello; print(pkg.hello.greet(), "in", os.getcwd(), "as uid", os.getuid())'
        buildah rm "$container" >/dev/null
    }
    timed smoke
    container=$(buildah from "$OPERATOR_IMAGE")
    buildah run "$container" -- python -c 'import taskaction_operator.__main__, kopf; print("operator image: imports ok")'
    buildah rm "$container" >/dev/null
fi

IMAGES=(BASE_IMAGE="$BASE_IMAGE" OPERATOR_IMAGE="$OPERATOR_IMAGE" RUNTIME_IMAGE="$RUNTIME_IMAGE")
$SDK && IMAGES+=(SDK_IMAGE="$SDK_IMAGE")

import_into_containerd() {
    local image=$1 archive
    local ctr=(ctr --address "$CONTAINERD" --namespace k8s.io)
    if [[ -n $("${ctr[@]}" images ls -q "name==$image") ]]; then log "in containerd: $image"; return; fi
    log "import $image into containerd ($CONTAINERD, namespace k8s.io)"
    archive=$(mktemp "$IMAGE_CACHE/import.XXXXXX.tar")
    buildah push --quiet "$image" "oci-archive:$archive:$image" >/dev/null
    "${ctr[@]}" images import "$archive" >/dev/null || { rm -f "$archive"; return 1; }
    rm -f "$archive"
    [[ -n $("${ctr[@]}" images ls -q "name==$image") ]] || { echo "build-images.sh: $image not in containerd after the import" >&2; return 1; }
}
if [[ -n $CONTAINERD ]]; then
    for entry in "${IMAGES[@]}"; do timed import_into_containerd "${entry#*=}"; done
fi

log "done"
printf '%s\n' "${TIMES[@]}" >&2
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E 'taskaction-(base|operator|runtime|sdk-task)' >&2 || true
printf '%s\n' "${IMAGES[@]}"
