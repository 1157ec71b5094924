# Two images from one build (docs/bundles.md):
#   --target operator   the operator (ENTRYPOINT taskaction-operator)
#   --target runtime    taskaction-bootstrap as ENTRYPOINT: the init container that fetches code bundles, and a base
#                       image for tasks (`taskaction-bootstrap --bundle URI --dest DIR -- python -m app`)
# Both: Python venv in /opt/venv built in a builder stage (no pip cache, no compilers in the final layers), user
# 65532, bytecode compiled at build time and never written at run time (read-only root filesystem friendly).
# isal (the bootstrap's gunzip) and obstore (its S3 reads) install from manylinux wheels on x86_64 and aarch64: no
# compiler needed; on other architectures pip would build them from source (gcc, make, nasm; a Rust toolchain).
#
# BASE_IMAGE: any Debian-like image with python3 (>= 3.11) and the venv module at the same path in every stage;
# pin it by digest for reproducible builds (BASE_IMAGE=python:3.11-slim-bookworm@sha256:...). e2e/build-images.sh
# builds one with debootstrap (bookworm, python3 3.11), no registry needed.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/venv/bin/pip install --quiet --upgrade pip \
 && /opt/venv/bin/pip wheel --quiet --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --quiet "$(ls /wheels/*.whl)[tracing]" \
 && /opt/venv/bin/taskaction-bootstrap --help >/dev/null \
 && /opt/venv/bin/python -c "import taskaction_operator.bundles.bootstrap, taskaction_operator.__main__"

# Without pip: the operator installs nothing at run time.
FROM builder AS operator-venv
RUN /opt/venv/bin/pip uninstall --quiet --yes pip \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

# With pip: images derived from the runtime add their tasks' dependencies (as root, then USER 65532 again).
FROM builder AS runtime-venv
RUN /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib

FROM ${BASE_IMAGE} AS base
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/nonroot
RUN grep -q '^nonroot:' /etc/passwd || echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin' >> /etc/passwd \
 && (grep -q '^nonroot:' /etc/group || echo 'nonroot:x:65532:' >> /etc/group) \
 && mkdir -p /home/nonroot && chown 65532:65532 /home/nonroot && chmod 0750 /home/nonroot
WORKDIR /home/nonroot

FROM base AS operator
COPY --from=operator-venv /opt/venv /opt/venv
USER 65532:65532
ENTRYPOINT ["taskaction-operator"]

FROM base AS runtime
COPY --from=runtime-venv /opt/venv /opt/venv
USER 65532:65532
ENTRYPOINT ["taskaction-bootstrap"]
