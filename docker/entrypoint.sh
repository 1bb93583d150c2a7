#!/bin/sh
# Compose hands secrets over as files: give them to witnessbox as the variables it reads
# (WITNESSBOX_SIGNING_KEY_PEM, WITNESSBOX_TELEGRAM_SESSION), so the signing key never has to
# live on a volume and only the containers given the Telegram session hold it; then tini.
set -eu
load() {  # load VARIABLE FILE: a non-empty secret file sets an unset variable
  if [ -z "$(printenv "$1" || true)" ] && [ -s "$2" ]; then
    export "$1=$(cat "$2")"
  fi
}
load WITNESSBOX_SIGNING_KEY_PEM /run/secrets/witnessbox_signing_key
load WITNESSBOX_TELEGRAM_SESSION /run/secrets/witnessbox_telegram_session
exec /usr/bin/tini -- "$@"
