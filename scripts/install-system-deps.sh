#!/usr/bin/env bash
# Debian packages edgebench needs beyond Python: Chromium for the report's browser test, espeak-ng for
# the speech the DNSMOS (predicted MOS) tests synthesise, OpenSSH's server and client for the fleet tests
# (they start sshd on a loopback port; nothing is enabled as a service).
# Skips quietly where they are present; needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
{ command -v sshd >/dev/null 2>&1 || [[ -x /usr/sbin/sshd ]]; } || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
((${#need[@]})) || exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "edgebench: not a Debian-like system; install ${need[*]} yourself (report browser test, DNSMOS speech tests, fleet tests)" >&2
  exit 0
fi
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
echo "edgebench: installing Debian packages: ${need[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
