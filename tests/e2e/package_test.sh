#!/bin/bash
# The Debian package, installed with apt into a clean Debian 12 root (debootstrap, cached between
# runs; each run installs into an overlay of it), resolving the dependencies it declares; then the
# installed mirrord runs a session against the sandbox pod.
source "$(dirname "$0")/lib.sh"
sandbox_up
CACHE=/var/cache/mirrord-test/bookworm-root
if [ ! -x "$CACHE/usr/bin/apt-get" ]; then
    log "making a clean Debian 12 root in $CACHE (once)"
    rm -rf "$CACHE"
    mkdir -p "$(dirname "$CACHE")"
    debootstrap --variant=minbase bookworm "$CACHE" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 ||
        { fail "debootstrap: $(tail -3 "$WORK/debootstrap.log")"; finish; }
fi
deb=$("$ROOT/scripts/package" 2>"$WORK/package.err") || { fail "scripts/package: $(tail -5 "$WORK/package.err")"; finish; }
check_matches "scripts/package makes mirrord_<version>_amd64.deb" "/mirrord_[0-9.]+_amd64\.deb$" "$deb"
check_contains "... declaring its libraries" "libseccomp2" "$(dpkg-deb -f "$deb" Depends)"

ROOTFS=$WORK/root
mkdir -p "$WORK/upper" "$WORK/overlay-work" "$ROOTFS"
mount -t overlay overlay -o "lowerdir=$CACHE,upperdir=$WORK/upper,workdir=$WORK/overlay-work" "$ROOTFS"
on_exit 'for m in proc dev sys; do umount -l "$ROOTFS/$m" 2>/dev/null; done; umount -l "$ROOTFS" 2>/dev/null'
for m in proc dev sys; do mount --rbind "/$m" "$ROOTFS/$m"; done
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
cp "$deb" "$ROOTFS/tmp/mirrord.deb"
in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
out=$(in_root sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/mirrord.deb' 2>&1); rc=$?
check_eq "apt installs it into a clean Debian 12, with its dependencies" "0" "$rc"
[ "$rc" = 0 ] || log "$out"
check_matches "the installed mirrord runs" "^mirrord [0-9.]+ \(ptrace edition; build .*; agent protocol [0-9]+\)$" "$(in_root mirrord --version 2>&1)"
check_eq "... and finds its agent" "/usr/bin/mirrord-agent" "$(in_root sh -c 'command -v mirrord-agent')"
out=$(in_root mirrord exec --target "pid/$POD_PID" -- sh -c 'grep service: /app/config.yaml; hostname' 2>&1)
check_eq "a session from the installed package: the pod's files and hostname" "service: checkout
$SANDBOX_NAME-pod-7d9f" "$out"
check_contains "the man page" "mirrord - run a local program" "$(in_root sh -c 'zcat /usr/share/man/man1/mirrord.1.gz' | grep -A1 NAME | tr -d '\\\\')"
check_eq "completions for bash, zsh and fish" "3" \
    "$(in_root ls /usr/share/bash-completion/completions/mirrord /usr/share/zsh/vendor-completions/_mirrord /usr/share/fish/vendor_completions.d/mirrord.fish | wc -l)"
check_eq "the RBAC manifest" "ClusterRole" "$(grep -m1 -o 'kind: ClusterRole' "$ROOTFS/usr/share/mirrord/manifests/rbac.yaml" | cut -d' ' -f2)"
finish
