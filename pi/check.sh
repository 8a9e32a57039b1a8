#!/usr/bin/env bash
# Prove the edge runtime on Raspberry Pi OS (arm64) under emulation: `make pi-check`.
#
# Builds a Debian bookworm arm64 root filesystem (what Raspberry Pi OS Bookworm 64-bit is
# built on), installs the project into a venv inside it the way docs/pi.md tells a Pi
# user, once per interpreter (ai-edge-litert, tflite-runtime), and runs for each emulated
# CPU (Pi 4: cortex-a72, Pi 5: cortex-a76): the edge and gallery tests, enrol + identify
# on ORL faces with each shipped bundle, and the embeddings of fixed aligned crops, which
# it compares with the same install and run on x86. Also checks that every shared library in the
# venvs is aligned for the Pi 5's 16K-page kernel. Results: runs/pi-check/summary.md.
#
# Needs root (chroot, mounts, binfmt_misc), Debian's apt and PyPI. Leaves the host's
# binfmt registrations and mounts as it found them, even on failure.
#
# Settings (environment):
#   PI_CPUS       emulated CPU models            (default: "cortex-a72 cortex-a76")
#   PI_RUNTIMES   install variants, see VARIANTS (default: "litert tflite")
#   PI_BUNDLES    shipped bundles to run         (default: every shipped bundle)
#   PI_TESTS      1 = run the tests, 0 = skip    (default: 1)
#   PI_CACHE      root filesystem tarball, wheelhouse, qemu, x86 venvs
#                                                (default: ~/.cache/siamese-edge-pi)
#   PI_OUT        results                        (default: runs/pi-check)
#   PI_DATA       shared data folder             (default: ../shared/data)
#   PI_KEEP       1 = keep the unpacked root filesystem after the run
#   PI_MIRROR     Debian mirror                  (default: http://deb.debian.org/debian)
#
# Exit status 1 when a test fails, a name or an embedding differs from x86, or a library
# is aligned below 16 KiB (runs/pi-check/summary.md says which).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${PI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/siamese-edge-pi}
OUT=${PI_OUT:-$REPO/runs/pi-check}
DATA=$(cd "${PI_DATA:-$REPO/../shared/data}" && pwd)
CPUS=${PI_CPUS:-cortex-a72 cortex-a76}
RUNTIMES=${PI_RUNTIMES:-litert tflite}
TESTS=${PI_TESTS:-1}
MIRROR=${PI_MIRROR:-http://deb.debian.org/debian}
HOST_PYTHON=${PI_HOST_PYTHON:-python3}

# What a Pi user installs after `python3 -m venv --system-site-packages` (docs/pi.md).
# "." is the project folder. numpy<2 keeps the numpy that apt's python3-picamera2 uses.
declare -A VARIANTS=(
    [litert]='.[edge] numpy<2'
    [litert-numpy2]='.[edge]'
    [tflite]='. opencv-python-headless tflite-runtime numpy<2'
)
declare -A EXPECT_RUNTIME=([litert]=ai_edge_litert [litert-numpy2]=ai_edge_litert [tflite]=tflite_runtime)
# The root filesystem: Debian's packages a Pi OS Lite image has for this (python3-numpy
# is what apt's python3-picamera2 brings along).
ROOTFS_PACKAGES=python3,python3-venv,python3-pip,python3-numpy
ROOTFS_TAR=$CACHE/rootfs-bookworm-arm64-$(echo "$ROOTFS_PACKAGES" | sha256sum | cut -c1-8).tar
QEMU=$CACHE/qemu/qemu-aarch64
WHEELS=$CACHE/wheels
WORK=$CACHE/work
ROOT=$WORK/rootfs
# Wheels a Pi would take, newest platform tag first (bookworm has glibc 2.36, Python 3.11).
PLATFORMS=()
for minor in $(seq 36 -1 17); do PLATFORMS+=(--platform "manylinux_2_${minor}_aarch64"); done
PLATFORMS+=(--platform manylinux2014_aarch64)

BINFMT=/proc/sys/fs/binfmt_misc
ENTRY=siamese-edge-pi-aarch64
AARCH64_MAGIC='\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
AARCH64_MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'
BINFMT_MOUNTED=0
DISABLED_ENTRIES=()
MOUNTS=()
STARTED=$SECONDS

say() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - STARTED)); }
die() { echo "pi-check: $*" >&2; exit 1; }

# --- cleanup: always, in reverse order ------------------------------------------------
cleanup() {
    local status=$? i
    [[ -d $ROOT/pi/out ]] && cp -a "$ROOT/pi/out/." "$OUT/" 2>/dev/null
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" || true
    done
    binfmt_restore
    if [[ ${PI_KEEP:-0} != 1 && -d $ROOT ]]; then
        if grep -q " $ROOT/" /proc/mounts; then
            echo "pi-check: something is still mounted under $ROOT; not removing it" >&2
        else
            rm -rf --one-file-system "$ROOT"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- binfmt: our own entry for qemu 10, the host's aarch64 entries paused meanwhile ----
binfmt_use_qemu() {
    if ! mountpoint -q "$BINFMT"; then
        mount -t binfmt_misc binfmt_misc "$BINFMT"
        BINFMT_MOUNTED=1
    fi
    [[ -e $BINFMT/$ENTRY ]] && echo -1 > "$BINFMT/$ENTRY"  # left by a killed run
    local entry
    for entry in "$BINFMT"/*; do
        case ${entry##*/} in register | status) continue ;; esac
        if [[ $(head -n1 "$entry") == enabled ]] &&
            grep -q '^magic 7f454c460201010000000000000000000200b700' "$entry"; then
            echo 0 > "$entry"
            DISABLED_ENTRIES+=("$entry")
        fi
    done
    # F: the kernel opens qemu now, so it need not exist inside the chroot.
    printf ':%s:M::%s:%s:%s:OPF\n' "$ENTRY" "$AARCH64_MAGIC" "$AARCH64_MASK" "$QEMU" \
        > "$BINFMT/register"
}

binfmt_restore() {
    local entry
    [[ -e $BINFMT/$ENTRY ]] && echo -1 > "$BINFMT/$ENTRY"
    for entry in "${DISABLED_ENTRIES[@]}"; do echo 1 > "$entry"; done
    DISABLED_ENTRIES=()
    if ((BINFMT_MOUNTED)); then umount "$BINFMT"; BINFMT_MOUNTED=0; fi
}

# --- host tools and qemu 10 from bookworm-backports ----------------------------------
host_tools() {
    [[ $(id -u) == 0 ]] || die "needs root (chroot, mounts, binfmt_misc)"
    local missing=()
    command -v debootstrap > /dev/null || missing+=(debootstrap)
    command -v readelf > /dev/null || missing+=(binutils)
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" > /dev/null
    fi
}

fetch_qemu() {
    [[ -x $QEMU ]] && return
    # Bookworm's qemu 7.2 crashes inside ai-edge-litert >= 2.2 at Interpreter();
    # backports' qemu 10 runs it. A private apt list: the host's sources stay untouched.
    local apt=$CACHE/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb" "$(dirname "$QEMU")"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm-backports main" \
        > "$apt/sources.list"
    local opts=(-qq -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update
    rm -f "$apt/deb"/*.deb
    # In qemu 10 qemu-user-static is an empty transitional package; qemu-user is static.
    (cd "$apt/deb" && apt-get "${opts[@]}" download qemu-user/bookworm-backports)
    rm -rf "$apt/x"
    dpkg-deb -x "$apt"/deb/qemu-user_*.deb "$apt/x"
    install -m 755 "$apt/x/usr/bin/qemu-aarch64" "$QEMU"
    rm -rf "$apt/x" "$apt/deb"
    "$QEMU" --version | head -n1
}

# --- the root filesystem, built once and kept as a tarball -----------------------------
rootfs() {
    if [[ ! -f $ROOTFS_TAR ]]; then
        say "debootstrap bookworm arm64 ($ROOTFS_PACKAGES)"
        local build=$WORK/debootstrap
        rm -rf --one-file-system "$build"
        debootstrap --arch=arm64 --variant=minbase --include="$ROOTFS_PACKAGES" \
            bookworm "$build" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
            { tail -n 20 "$WORK/debootstrap.log"; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
        rm -rf "$build"/var/cache/apt/archives/*.deb "$build"/var/lib/apt/lists/*
        tar -C "$build" -cf "$ROOTFS_TAR.part" . && mv "$ROOTFS_TAR.part" "$ROOTFS_TAR"
        rm -rf --one-file-system "$build"
    fi
    say "unpack the root filesystem"
    rm -rf --one-file-system "$ROOT"
    mkdir -p "$ROOT"
    tar -C "$ROOT" -xf "$ROOTFS_TAR"
}

mount_in() {  # mount_in TARGET MOUNT-ARGS...
    local target=$1
    shift
    mkdir -p "$target"
    mount "$@" "$target"
    MOUNTS+=("$target")
}

# --- wheels: downloaded on the host for aarch64, installed offline inside ------------
wheelhouse() {
    local key project tmp variant
    mkdir -p "$WHEELS"
    tmp=$(mktemp -d)
    for variant in $RUNTIMES; do
        [[ -n ${VARIANTS[$variant]:-} ]] || die "unknown runtime variant $variant (have: ${!VARIANTS[*]})"
        key=$(cat "$REPO/setup.cfg" "$REPO/pyproject.toml" <(echo "${VARIANTS[$variant]}") | sha256sum | cut -c1-12)
        [[ -f $WHEELS/.done-$variant-$key ]] && continue
        if [[ -z ${project:-} ]]; then
            "$HOST_PYTHON" -m pip wheel -q --no-deps -w "$tmp" "$REPO" > /dev/null
            project=$(ls "$tmp"/siamese_edge-*.whl)
        fi
        local requirements=()
        for r in ${VARIANTS[$variant]}; do
            case $r in .) r=siamese-edge ;; .\[*) r=siamese-edge${r#.} ;; esac
            requirements+=("$r")
        done
        "$HOST_PYTHON" -m pip download -q --only-binary=:all: "${PLATFORMS[@]}" \
            --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
            --find-links "$tmp" -d "$WHEELS" \
            "${requirements[@]}" pytest pytest-timeout 'setuptools>=68' wheel > "$CACHE/wheels.log" 2>&1 ||
            { cat "$CACHE/wheels.log"; die "pip download for $variant failed"; }
        touch "$WHEELS/.done-$variant-$key"
    done
    rm -rf "$tmp"
    rm -f "$WHEELS"/siamese_edge-*.whl  # the project is installed from its folder
}

# --- x86 reference: the same inputs and the same pip arguments, on the workstation ----
x86_venv() {  # x86_venv VARIANT: $CACHE/x86-venv-VARIANT, rebuilt when its inputs change
    local variant=$1 venv=$CACHE/x86-venv-$1 key r
    key=$(cat "$REPO/setup.cfg" <(echo "${VARIANTS[$variant]}") | sha256sum | cut -c1-12)
    if [[ ! -f $venv/.done-$key ]]; then
        local requirements=()
        for r in ${VARIANTS[$variant]}; do
            case $r in .) r=$REPO ;; .\[*) r=$REPO${r#.} ;; esac
            requirements+=("$r")
        done
        rm -rf "$venv"
        "$HOST_PYTHON" -m venv "$venv"
        "$venv/bin/pip" install -q "${requirements[@]}" > "$CACHE/x86-venv.log" 2>&1 ||
            { cat "$CACHE/x86-venv.log"; die "x86 venv for $variant: pip install failed"; }
        touch "$venv/.done-$key"
    fi
}

x86_reference() {
    mkdir -p "$OUT/inputs/enrol" "$OUT/inputs/probe"
    local i variant first=${RUNTIMES%% *}
    for i in 1 2 3 4 5 6 7 8; do  # enrolled from photo 1, identified from photo 2
        mkdir -p "$OUT/inputs/enrol/s$i"
        cp "$DATA/orl/s$i/1.pgm" "$OUT/inputs/enrol/s$i/1.pgm"
        cp "$DATA/orl/s$i/2.pgm" "$OUT/inputs/probe/s${i}_2.pgm"
    done
    for i in 33 34 35 36; do  # strangers: never enrolled
        cp "$DATA/orl/s$i/2.pgm" "$OUT/inputs/probe/s${i}_2.pgm"
    done
    for variant in $RUNTIMES; do x86_venv "$variant"; done
    local args=()
    for b in $BUNDLES; do args+=(--bundle "$b"); done
    PYTHONPATH=$REPO "$CACHE/x86-venv-$first/bin/python" "$REPO/pi/faces.py" crops "$DATA" \
        "$OUT/inputs/crops" "${args[@]}" 2> "$OUT/x86-crops.log" ||
        { cat "$OUT/x86-crops.log"; die "x86: cutting the crops failed"; }
    for variant in $RUNTIMES; do
        PY=$CACHE/x86-venv-$variant/bin/python SRC=$REPO INPUTS=$OUT/inputs DATA=$DATA \
            BUNDLES=$BUNDLES TESTS=0 CLI=module bash "$REPO/pi/device.sh" run "$OUT/x86-$variant"
    done
}

# --- inside the emulated Pi ------------------------------------------------------------
in_pi() {  # in_pi CPU COMMAND... : a clean environment (the host's pip settings stay out)
    local cpu=$1
    shift
    env -i HOME=/root LANG=C.UTF-8 TERM=dumb QEMU_CPU="$cpu" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        chroot "$ROOT" "$@"
}

prepare_pi() {
    mkdir -p "$ROOT/pi/main" "$ROOT/pi/wheels" "$ROOT/pi/inputs" "$ROOT/pi/out"
    # The project as a clone has it (tracked and new files, nothing ignored).
    git -C "$REPO" ls-files -z -co --exclude-standard |
        tar -C "$REPO" --null --ignore-failed-read -T - -cf - | tar -C "$ROOT/pi/main" -xf -
    cp -a "$OUT/inputs/." "$ROOT/pi/inputs/"
    mount_in "$ROOT/proc" -t proc proc
    mount_in "$ROOT/sys" -t sysfs -o ro sysfs
    mount_in "$ROOT/dev/shm" -t tmpfs -o mode=1777 tmpfs
    mount_in "$ROOT/pi/wheels" --bind -o ro "$WHEELS"
    mount_in "$ROOT/pi/shared/data" --bind -o ro "$DATA"
}

alignment_check() {  # LOAD segments aligned below 16 KiB fail on the Pi 5's 16K-page kernel
    local report=$OUT/alignment.txt f align worst
    : > "$report"
    while IFS= read -r -d '' f; do
        worst=$(readelf -lW "$f" 2> /dev/null | awk '$1 == "LOAD" { print $NF }' | sort -u |
            while read -r align; do printf '%d\n' "$align"; done | sort -n | head -n1)
        [[ -n $worst ]] || continue
        printf '%s 0x%x %s\n' "$(( worst >= 16384 ? 1 : 0 ))" "$worst" "${f#"$ROOT"}" >> "$report"
    done < <(find "$ROOT/pi" "$ROOT/usr/lib/python3/dist-packages/numpy" -path "$ROOT/pi/shared" -prune -o \
        -type f \( -name '*.so' -o -name '*.so.*' \) -print0)
    echo "$(grep -c '^1 ' "$report" || true) libraries aligned >= 0x4000," \
        "$(grep -c '^0 ' "$report" || true) below (list: $report)"
}

main() {
    host_tools
    mkdir -p "$CACHE" "$WORK"
    rm -rf "$OUT"
    mkdir -p "$OUT"
    if [[ -z ${PI_BUNDLES:-} ]]; then
        BUNDLES=$(cd "$REPO/edge/bundles" && for b in */manifest.json; do dirname "$b"; done | xargs)
    else
        BUNDLES=$PI_BUNDLES
    fi
    [[ -n $BUNDLES ]] || die "no shipped bundle in edge/bundles"
    echo "pi-check: CPUs [$CPUS], runtimes [$RUNTIMES], bundles [$BUNDLES], tests $TESTS, cache $CACHE"

    say "qemu"
    fetch_qemu
    binfmt_use_qemu
    rootfs
    say "wheelhouse (aarch64, on the host)"
    wheelhouse
    say "x86 reference"
    x86_reference
    prepare_pi

    local variant cpu
    for variant in $RUNTIMES; do
        say "install $variant in the Pi: pip install ${VARIANTS[$variant]}"
        local start=$SECONDS
        # shellcheck disable=SC2086  # the variant's words are pip's arguments
        in_pi cortex-a72 /bin/bash -c "cd /pi/main && bash pi/device.sh install /pi/venv-$variant /pi/wheels \
            $(printf '%q ' ${VARIANTS[$variant]})"
        echo "install-$variant $((SECONDS - start))" >> "$OUT/times.txt"
    done
    for cpu in $CPUS; do
        for variant in $RUNTIMES; do
            say "run $cpu / $variant"
            in_pi "$cpu" /usr/bin/env "PY=/pi/venv-$variant/bin/python" SRC=/pi/main DATA=/pi/shared/data \
                INPUTS=/pi/inputs BUNDLES="$BUNDLES" TESTS="$TESTS" CLI=installed \
                bash /pi/main/pi/device.sh run "/pi/out/$cpu-$variant"
            grep -q "\"runtime\": \"${EXPECT_RUNTIME[$variant]}\"" "$ROOT/pi/out/$cpu-$variant/versions.json" ||
                die "$variant: the venv chose another interpreter: $(cat "$ROOT/pi/out/$cpu-$variant/versions.json")"
            in_pi "$cpu" /bin/sh -c 'grep -m2 -E "^(CPU part|Features)" /proc/cpuinfo' \
                > "$ROOT/pi/out/$cpu-$variant/cpuinfo.txt" || true
        done
    done
    cp -a "$ROOT/pi/out/." "$OUT/"
    say "shared library alignment"
    alignment_check
    say "report"
    local status=0
    "$CACHE/x86-venv-${RUNTIMES%% *}/bin/python" "$REPO/pi/report.py" "$OUT" --cpus "$CPUS" --runtimes "$RUNTIMES" \
        --bundles "$BUNDLES" --tests "$TESTS" --seconds $((SECONDS - STARTED)) || status=$?
    say "done"
    return "$status"
}

main "$@"
