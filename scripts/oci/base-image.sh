#!/usr/bin/env bash
# Ensures the base image of the example images, localhost/aios-base:bookworm (Debian bookworm minbase with
# python3, python3-pip and ca-certificates), is in podman's store:
#   1. already there: nothing to do;
#   2. else the cached tarball $AIOS_OCI_CACHE/<name>.tar (default ~/.cache/aios-oci/aios-base-bookworm.tar)
#      exists: `pm load` it (or `pm import` it, if it is a plain rootfs tarball);
#   3. else debootstrap bookworm (about 90 s; needs root, or passwordless sudo), `pm import` the rootfs,
#      and `pm save` the image to that tarball for next time.
# Idempotent; concurrent runs wait for each other (flock on $AIOS_OCI_CACHE/<name>.lock).
#
# Environment: AIOS_BASE_IMAGE (default localhost/aios-base:bookworm), AIOS_OCI_CACHE (default
# ~/.cache/aios-oci), DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SUITE (default bookworm),
# AIOS_BASE_PACKAGES (default python3,python3-pip,ca-certificates; comma separated).
set -euo pipefail

IMAGE=${AIOS_BASE_IMAGE:-localhost/aios-base:bookworm}
CACHE=${AIOS_OCI_CACHE:-$HOME/.cache/aios-oci}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${DEBIAN_SUITE:-bookworm}
PACKAGES=${AIOS_BASE_PACKAGES:-python3,python3-pip,ca-certificates}
# localhost/aios-base:bookworm -> aios-base-bookworm
NAME=$(printf '%s' "${IMAGE#localhost/}" | tr -c 'A-Za-z0-9._-' '-')
TARBALL="$CACHE/$NAME.tar"

say() { echo "base image: $*" >&2; }
# podman without the lock's descriptor (a long-lived helper it might spawn must not hold the lock).
pm() { podman "$@" 9>&-; }
die() { echo "base image: error: $*" >&2; exit 1; }

command -v podman >/dev/null 2>&1 || die "podman is not installed (apt-get install podman)"
command -v flock >/dev/null 2>&1 || die "flock is not installed (util-linux)"

mkdir -p "$CACHE"
exec 9>"$CACHE/$NAME.lock"
if ! flock -n 9; then
    say "another run holds $CACHE/$NAME.lock; waiting (up to 15 min)"
    flock -w 900 9 || die "timed out waiting for $CACHE/$NAME.lock"
fi

if pm image exists "$IMAGE"; then
    say "$IMAGE is present"
    exit 0
fi

if [ -s "$TARBALL" ]; then
    say "loading $TARBALL"
    start=$SECONDS
    if out=$(pm load -i "$TARBALL" 2>&1); then
        loaded=$(printf '%s\n' "$out" | sed -n 's/^Loaded image[^:]*: *//p' | tail -n 1)
        if ! pm image exists "$IMAGE"; then
            [ -n "$loaded" ] || die "podman load $TARBALL loaded no named image: $out"
            pm tag "${loaded%%,*}" "$IMAGE"
        fi
    else
        say "not an image archive ($(printf '%s' "$out" | tail -n 1)); importing it as a rootfs tarball"
        pm import -q "$TARBALL" "$IMAGE" >/dev/null
    fi
    pm image exists "$IMAGE" || die "$IMAGE is still missing after loading $TARBALL"
    say "$IMAGE loaded in $((SECONDS - start)) s"
    exit 0
fi

# Cold path: debootstrap.
command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed (apt-get install debootstrap)"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    sudo -n true 2>/dev/null || die "debootstrap needs root: run as root or with passwordless sudo"
    SUDO=(sudo -n)
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aios-base.XXXXXX")
ROOTFS="$WORK/rootfs"
cleanup() {
    # debootstrap mounts proc/sys inside the target and may leave them mounted when it fails.
    local m
    for m in $(awk -v r="$ROOTFS" 'index($2, r"/") == 1 { print $2 }' /proc/mounts | sort -r); do
        "${SUDO[@]}" umount -l "$m" 2>/dev/null || true
    done
    "${SUDO[@]}" rm -rf --one-file-system "$WORK"
    rm -f "$TARBALL.tmp.$$"
}
trap cleanup EXIT

say "debootstrap $SUITE from $MIRROR with $PACKAGES (about 90 s)..."
start=$SECONDS
if ! "${SUDO[@]}" debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1; then
    tail -n 30 "$WORK/debootstrap.log" >&2
    [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed (log above)"
fi
say "debootstrap done in $((SECONDS - start)) s"

# Slim it and keep the host's network identity out of the image (podman mounts its own at run time).
"${SUDO[@]}" sh -c "rm -rf '$ROOTFS'/var/cache/apt/archives/*.deb '$ROOTFS'/var/lib/apt/lists/* '$ROOTFS'/debootstrap \
    && : > '$ROOTFS/etc/resolv.conf' && echo localhost > '$ROOTFS/etc/hostname'"

say "importing the rootfs as $IMAGE"
start=$SECONDS
"${SUDO[@]}" tar -C "$ROOTFS" --numeric-owner -c . |
    pm import -q --change 'ENV LANG=C.UTF-8' --message "debootstrap --variant=minbase $SUITE + $PACKAGES" - "$IMAGE" >/dev/null
pm image exists "$IMAGE" || die "podman import did not create $IMAGE"
say "imported in $((SECONDS - start)) s"

say "saving $TARBALL (cache for the next cold start)"
start=$SECONDS
pm save -q --format docker-archive -o "$TARBALL.tmp.$$" "$IMAGE"
mv -f "$TARBALL.tmp.$$" "$TARBALL"
say "saved in $((SECONDS - start)) s ($(du -h "$TARBALL" | cut -f1))"
say "$IMAGE is ready"
