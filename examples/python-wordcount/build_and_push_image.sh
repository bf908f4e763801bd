#!/usr/bin/env bash
# Builds the wordcount block's image and pushes it to a registry (the seed's step for component-oci.json).
#
#   examples/python-wordcount/build_and_push_image.sh
#   REGISTRY=127.0.0.1:5001 TAG=1.0.1 REGISTRY_USER=u REGISTRY_PASSWORD=w examples/python-wordcount/build_and_push_image.sh
#
# Environment: REGISTRY (default 127.0.0.1:5000; start one with scripts/oci/registry.sh up), TAG (default
# 1.0.0), IMAGE (default $REGISTRY/aios/python-wordcount:$TAG), REGISTRY_USER/REGISTRY_PASSWORD (push
# credentials, when the registry wants them), TLS_VERIFY (default false: the local registry speaks plain HTTP),
# AIOS_BASE_IMAGE (default localhost/aios-base:bookworm; made by scripts/oci/base-image.sh if missing),
# AIOS_ENGINE_FLAGS (skip scripts/oci/engine-flags.sh's probe), AIOS_BUILD_CA_BUNDLE (CA bundle that pip trusts
# during the build; default $PIP_CERT, $SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt; empty: none).
# Progress goes to stderr; stdout gets only the image reference, which is also the last line.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REGISTRY=${REGISTRY:-127.0.0.1:5000}
TAG=${TAG:-1.0.0}
IMAGE=${IMAGE:-$REGISTRY/aios/python-wordcount:$TAG}
TLS_VERIFY=${TLS_VERIFY:-false}

say() { echo "build_and_push_image: $*" >&2; }

FLAGS=$("$ROOT/scripts/oci/engine-flags.sh")
say "engine flags: $FLAGS"
"$ROOT/scripts/oci/base-image.sh"

# A minimal build context: never the repository (its .build/ holds gigabytes).
CTX=$(mktemp -d "${TMPDIR:-/tmp}/aios-wordcount-ctx.XXXXXX")
trap 'rm -rf "$CTX"' EXIT
mkdir "$CTX/aios_instance"
tar -C "$ROOT/python/aios_instance" \
    --exclude=tests --exclude='*.egg-info' --exclude=__pycache__ --exclude='*.pyc' \
    --exclude=build --exclude=dist --exclude=.pytest_cache \
    -cf - . | tar -C "$CTX/aios_instance" -xf -
cp "$HERE/block.py" "$HERE/Containerfile" "$CTX/"
say "context $CTX ($(du -sh "$CTX" | cut -f1))"

BUILD_ARGS=()
[ -n "${AIOS_BASE_IMAGE:-}" ] && BUILD_ARGS+=(--build-arg "BASE_IMAGE=$AIOS_BASE_IMAGE")
# The host's CA bundle, for pip behind an intercepting HTTPS proxy (a build secret: not kept in the image).
if [ -z "${AIOS_BUILD_CA_BUNDLE+x}" ]; then
    for f in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
        [ -n "$f" ] && [ -s "$f" ] && { AIOS_BUILD_CA_BUNDLE=$f; break; }
    done
fi
if [ -n "${AIOS_BUILD_CA_BUNDLE:-}" ]; then
    BUILD_ARGS+=(--secret "id=ca_bundle,src=$AIOS_BUILD_CA_BUNDLE")
    say "CA bundle for pip: $AIOS_BUILD_CA_BUNDLE"
fi
say "podman build -t $IMAGE"
start=$SECONDS
# shellcheck disable=SC2086  # FLAGS is a word list
podman build $FLAGS --network host ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} -t "$IMAGE" -f "$CTX/Containerfile" "$CTX" >&2
say "built in $((SECONDS - start)) s"

PUSH_ARGS=(--tls-verify="$TLS_VERIFY")
if [ -n "${REGISTRY_USER:-}" ] || [ -n "${REGISTRY_PASSWORD:-}" ]; then
    PUSH_ARGS+=(--creds "${REGISTRY_USER:-}:${REGISTRY_PASSWORD:-}")
fi
say "podman push $IMAGE"
start=$SECONDS
podman push "${PUSH_ARGS[@]}" "$IMAGE" >&2
say "pushed in $((SECONDS - start)) s"
echo "$IMAGE"
