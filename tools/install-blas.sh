#!/usr/bin/env bash
# The mlx[cpu] wheel for Linux bundles the reference (unoptimised) BLAS, about 40x slower at matmul.
# hrm loads an optimised OpenBLAS before MLX when one is on the system (engine/blas.py); this script
# installs Debian/Ubuntu's (libopenblas0-pthread, ~10 MB) when it is missing and we may use apt.
set -u
[ "$(uname -s)" = Linux ] || exit 0
if ldconfig -p 2>/dev/null | grep -q 'libopenblas\.so\.0'; then exit 0; fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && SUDO="sudo -n"; }
  if [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; then
    echo "installing an optimised BLAS: apt-get install libopenblas0-pthread"
    $SUDO apt-get update -qq >/dev/null 2>&1
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread >/dev/null 2>&1 && exit 0
  fi
fi
echo "note: no optimised BLAS found; MLX on this CPU will use its slow bundled BLAS." >&2
echo "      install OpenBLAS (Debian/Ubuntu: libopenblas0-pthread; Fedora: openblas) or set HRM_BLAS=/path/to/libopenblas.so" >&2
exit 0
