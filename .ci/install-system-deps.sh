#!/usr/bin/env bash
# Installs the real programs the tests drive: sshd (tunnel tests) and tmux
# (the dashboard's end-to-end test). Only what is missing; apt-get as root.
set -euo pipefail
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
mkdir -p /run/sshd
echo "system packages ready: $(command -v sshd || echo /usr/sbin/sshd), $(command -v tmux)"
