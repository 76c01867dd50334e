#!/usr/bin/env bash
# Install (never start as system services) what the test suite needs:
# PostgreSQL, Prometheus + promtool, Alertmanager. Idempotent and quiet when all is present.
# The pytest fixtures in tests/servers/ start Prometheus and Alertmanager on free loopback
# ports, and use the PostgreSQL on 127.0.0.1:5432 or start a throwaway cluster with initdb.
set -euo pipefail

need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
# dedupe
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
echo "ensure-test-services: installing ${need[*]} with apt-get" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# Keep Debian's maintainer scripts from starting the daemons as system services:
# the tests run their own instances on free loopback ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "ensure-test-services: installed ${need[*]}" >&2
