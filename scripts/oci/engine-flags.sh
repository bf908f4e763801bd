#!/usr/bin/env bash
# Prints, on one line, the extra flags podman needs on this host for `podman run` and `podman build`
# (both accept the same ones), e.g. `--runtime /usr/sbin/runc --ulimit nofile=20000:20000 --ulimit nproc=32768:32768`.
#
#   scripts/oci/engine-flags.sh            # print the flags (exit 1, with a message on stderr, if no runtime works)
#   . scripts/oci/engine-flags.sh           # only defines aios_oci_engine_flags (prints the same line)
#
# How: it starts a throwaway container from a tiny probe rootfs (the host's /bin/true and its libraries, run
# with `podman run --rootfs`, so no image and no network are needed) and tries
#   1. podman's default runtime, then /usr/sbin/runc (or the `runc` on PATH) when the default cannot start it;
#   2. explicit `--ulimit nofile=N:N --ulimit nproc=N:N`, always: podman's defaults (1048576) are above the
#      hard limits of hosts like CI sandboxes, and then the runtime's setrlimit fails ("OCI permission denied").
#      N starts at the hard limit (`ulimit -Hn` / `ulimit -Hu`, capped at 65536) and is halved down to 1024
#      until the runtime accepts it (podman itself may run with a lower nproc than the shell: 32768 here).
#
# Environment: AIOS_ENGINE_FLAGS: print this instead of probing (set it to " " for none);
#              AIOS_ULIMIT_CAP (default 65536): the highest N tried.

aios_oci_engine_flags() {
    if [ -n "${AIOS_ENGINE_FLAGS+x}" ]; then
        printf '%s\n' "$AIOS_ENGINE_FLAGS" | sed 's/^ *//; s/ *$//'
        return 0
    fi
    if ! command -v podman >/dev/null 2>&1; then
        echo "engine-flags: podman is not installed (apt-get install podman); no engine can run containers" >&2
        return 1
    fi

    local cap=${AIOS_ULIMIT_CAP:-65536} probe err rc=1 line
    probe=$(mktemp -d "${TMPDIR:-/tmp}/aios-oci-probe.XXXXXX") || return 1
    err="$probe.err"
    # The probe rootfs: /bin/true and the shared libraries it loads.
    if ! { mkdir -p "$probe/bin" && cp -L /bin/true "$probe/bin/true"; }; then rm -rf "$probe"; return 1; fi
    for lib in $(ldd /bin/true 2>/dev/null | grep -o '/[^ ]*'); do
        mkdir -p "$probe$(dirname "$lib")" && cp -L "$lib" "$probe$lib"
    done

    # Candidate values for one limit: min(hard, cap), then halves down to 1024.
    _aios_candidates() {
        local hard=$1 n
        case $hard in unlimited|'') n=$cap ;; *) n=$(( hard < cap ? hard : cap )) ;; esac
        printf '%s ' "$n"
        local c=$cap
        while [ "$c" -ge 1024 ]; do
            [ "$c" -lt "$n" ] && printf '%s ' "$c"
            c=$(( c / 2 ))
        done
    }
    # _aios_try RUNTIME_FLAGS NOFILE NPROC: can podman start the probe with these flags?
    _aios_try() {
        # shellcheck disable=SC2086  # RUNTIME_FLAGS is a word list
        timeout 60 podman run --rm $1 --ulimit "nofile=$2:$2" --ulimit "nproc=$3:$3" --network none \
            --rootfs "$probe" /bin/true >/dev/null 2>>"$err"
    }

    local runtimes=("")
    local runc
    runc=$( [ -x /usr/sbin/runc ] && echo /usr/sbin/runc || command -v runc 2>/dev/null || true)
    [ -n "$runc" ] && runtimes+=("--runtime $runc")
    local nofiles nprocs rt nofile nproc n
    nofiles=$(_aios_candidates "$(ulimit -Hn)")
    nprocs=$(_aios_candidates "$(ulimit -Hu)")
    for rt in "${runtimes[@]}"; do
        nofile=${nofiles%% *} nproc=${nprocs%% *}
        if ! _aios_try "$rt" "$nofile" "$nproc"; then
            # Does this runtime start containers at all (with modest limits)?
            _aios_try "$rt" 1024 1024 || continue
            for n in $nofiles; do _aios_try "$rt" "$n" 1024 && { nofile=$n; break; }; done
            for n in $nprocs; do _aios_try "$rt" "$nofile" "$n" && { nproc=$n; break; }; done
        fi
        line="${rt:+$rt }--ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc"
        rc=0
        break
    done
    if [ "$rc" -ne 0 ]; then
        {
            echo "engine-flags: podman cannot start a container on this host, with its default runtime${runc:+ or $runc}."
            echo "engine-flags: last errors:"
            sort -u "$err" | tail -n 5 | sed 's/^/  /'
        } >&2
    else
        printf '%s\n' "$line"
    fi
    rm -rf "$probe" "$err"
    unset -f _aios_candidates _aios_try
    return "$rc"
}

# Executed (not sourced): print the flags.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -u
    aios_oci_engine_flags
fi
