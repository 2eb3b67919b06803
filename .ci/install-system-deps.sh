#!/usr/bin/env bash
# Installs the real programs the tests drive, only what is missing (apt-get as
# root): sshd and ssh (tunnel tests), tmux (the dashboard's end-to-end test),
# iproute2's `ip` (the exposure tests make a non-loopback interface) and
# util-linux's `mount` (the full-disk tests mount a tmpfs), systemd's
# `systemd-analyze` (verifies the unit `gateway install` writes) and
# bash-completion (drives `loopgate completion bash` as bash would). Under CI a test
# whose real part is missing fails, so this list must stay complete.
set -euo pipefail
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v mount >/dev/null 2>&1 || missing+=(mount)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ -f /usr/share/bash-completion/bash_completion ] || missing+=(bash-completion)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi
mkdir -p /run/sshd
echo "system packages ready: $(command -v sshd || echo /usr/sbin/sshd), $(command -v tmux), $(command -v ip), $(command -v mount)"
