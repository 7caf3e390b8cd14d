#!/usr/bin/env bash
# Builds a minimal root filesystem tarball for Docker test images, without a
# registry: the given porch binary (at /usr/local/bin/porch) with the shared
# libraries it links, and Debian's static busybox as /bin/sh and the usual
# tools; with a third argument, the Claude Code CLI binary too (at
# /usr/local/bin/claude, with its libraries). Import it with the Engine API
# (images/create?fromSrc=-).
#
#   scripts/make-test-rootfs.sh OUT.tar [PORCH_BINARY=build/porch [CLAUDE_BINARY]]
set -euo pipefail
out="$1"
porch="$(realpath "${2:-build/porch}")"
claude="${3:+$(realpath "$3")}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/usr/local/bin" "$root/tmp" "$root/etc"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
for tool in sh echo cat sleep touch head tr ls mkdir rm cp mv test true false printf wc grep sed; do
  ln -s busybox "$root/bin/$tool"
done
cp "$porch" "$root/usr/local/bin/porch"
strip "$root/usr/local/bin/porch" 2>/dev/null || true
binaries=("$porch")
if [ -n "$claude" ]; then
  cp "$claude" "$root/usr/local/bin/claude"
  binaries+=("$claude")
fi
ldd "${binaries[@]}" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
  [ -f "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
tar -C "$root" -cf "$out" .
