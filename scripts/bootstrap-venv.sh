#!/usr/bin/env bash
# Create the project's virtualenv. On a fresh Debian, `python3 -m venv` needs the
# python3-venv package; install it with apt when it is missing.
set -euo pipefail
python="${1:-python3}"
venv="${2:-.venv}"
if [ -z "$python" ] || ! command -v "$python" >/dev/null 2>&1; then
  echo "bootstrap-venv: no python3.11 or python3 on PATH; install Python 3.11 first" >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap-venv: $("$python" --version) is too old; SRE Copilot needs Python >= 3.11" >&2
  exit 1
fi
if ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "bootstrap-venv: installing python3-venv with apt-get" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
echo ">> creating $venv with $("$python" --version)"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip setuptools wheel
