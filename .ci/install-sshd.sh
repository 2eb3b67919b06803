#!/usr/bin/env bash
# Installs a real OpenSSH server (and client) for the SSH tunnel tests when
# /usr/sbin/sshd is missing, and creates sshd's privilege-separation dir.
# Standalone for developers; .ci/install-system-deps.sh does the same in CI.
set -euo pipefail
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openssh-server openssh-client
fi
mkdir -p /run/sshd
echo "sshd ready: $(/usr/sbin/sshd -V 2>&1 | head -n1 || true)"
