#!/usr/bin/env bash
# Fetch the pinned ReplayWeb.page (npm package replaywebpage) for `witnessbox replay` and the
# Airflow capture pages: ui.js, sw.js and the licence, into preservation/replay/assets/.
# Run by `make venv`; never at run time. The tarball must match the pinned integrity.
set -euo pipefail
VERSION=2.5.3
INTEGRITY="sha512-nCj2PSON3BxeSJKE8AsYPyULv0XPZKJWfy4l9PyQre9SqwLZ+WKZVs/sfLqPOQ4GrH+0YkjbwOhr8cSTH08gsQ=="
DEST="$(cd "$(dirname "$0")/.." && pwd)/preservation/replay/assets"
if [ -f "$DEST/VERSION" ] && [ "$(cat "$DEST/VERSION")" = "$VERSION" ] \
   && [ -f "$DEST/ui.js" ] && [ -f "$DEST/sw.js" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to fetch ReplayWeb.page (make system)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "replaywebpage@$VERSION" >/dev/null)
tarball="$work/replaywebpage-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | openssl base64 -A)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "error: replaywebpage-$VERSION.tgz does not match its pinned integrity" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/ui.js package/sw.js package/LICENSE
mkdir -p "$DEST"
cp "$work/package/ui.js" "$work/package/sw.js" "$DEST/"
cp "$work/package/LICENSE" "$DEST/LICENSE.replaywebpage"
echo "$VERSION" > "$DEST/VERSION"
echo "ReplayWeb.page $VERSION installed in $DEST"
