#!/usr/bin/env bash
# Install the Debian packages witnessbox runs with, only when something is missing.
set -euo pipefail
declare -A need=(
  [chromium]=chromium
  [ffmpeg]=ffmpeg
  [ffprobe]=ffmpeg
  [exiftool]=libimage-exiftool-perl
  [openssl]=openssl
  [npm]=npm  # fetches the pinned ReplayWeb.page (scripts/fetch-replayweb.sh)
  [redis-server]=redis-server
  [docker-compose]=docker-compose  # tests/test_docker.py: `docker-compose config`, no daemon
)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# PostgreSQL (the tests' throwaway catalogue cluster): Debian keeps initdb off PATH
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "installing Debian packages: $pkgs"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root or sudo to install: $pkgs" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
