#!/usr/bin/env bash
# Builds parallel-orchestrator:latest (the docker backend's default image)
# without any image registry:
#   1. a Debian 12 base image from debootstrap, imported into the engine
#      (porch-debian:bookworm; built once);
#   2. docker/Dockerfile on top: Node.js, the pinned Claude Code CLI, porch.
#
#   docker/build.sh [TAG=parallel-orchestrator:latest]
# Uses the engine at DOCKER_HOST (e.g. unix:///tmp/porch-docker/docker.sock
# from scripts/docker-up.sh) and the docker CLI (Debian's docker.io).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-parallel-orchestrator:latest}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
scripts/apt-install-missing.sh debootstrap docker.io
[ -x build/porch ] || scripts/setup.sh
if ! docker image inspect porch-debian:bookworm >/dev/null 2>&1; then
  root="$(mktemp -d)"
  trap '$sudo rm -rf "$root"' EXIT
  echo "build: debootstrap bookworm (about a minute)"
  $sudo debootstrap --variant=minbase bookworm "$root" >/dev/null
  $sudo rm -rf "$root"/usr/share/doc/* "$root"/usr/share/locale/* "$root"/var/cache/apt/archives/*.deb
  $sudo tar -C "$root" -c . | docker import - porch-debian:bookworm
fi
context="$(mktemp -d)"
cp docker/Dockerfile "$context/"
cp /etc/ssl/certs/ca-certificates.crt "$context/host-ca.crt" 2>/dev/null || : > "$context/host-ca.crt"
cp build/porch "$context/porch"
strip "$context/porch" 2>/dev/null || true
docker build -t "$tag" "$context"
rm -rf "$context"
echo "build: $tag ready"
