#!/usr/bin/env bash
# The agent runs model-written code inside bubblewrap (namespaces, read-only mounts, seccomp) on Linux;
# without it `hrm agent` refuses to run code unless the weaker mode is accepted explicitly.
# This script installs Debian/Ubuntu's bubblewrap (~150 kB) when it is missing and we may use apt.
set -u
[ "$(uname -s)" = Linux ] || exit 0
if command -v bwrap >/dev/null 2>&1; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO="sudo -n"; }
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    echo "installing the agent's sandbox: apt-get install bubblewrap"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 && exit 0
    $SUDO apt-get update -qq >/dev/null 2>&1
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 && exit 0
  fi
fi
echo "note: bubblewrap (bwrap) is not installed; hrm agent will not run model code without it" >&2
echo "      install it (Debian/Ubuntu: bubblewrap; Fedora: bubblewrap; Arch: bubblewrap) or pass --allow-weak-sandbox" >&2
exit 0
