#!/bin/sh
# Installs the Debian packages the PostgreSQL end-to-end run (make e2e-pg)
# needs on top of scripts/install-deps.sh, and only those that are missing:
# a PostgreSQL server for tests/pg/pgserver.py to initdb and start, and
# psycopg2 for the harness's own queries. Works as root or through sudo.
set -eu
PKGS="postgresql python3-psycopg2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "pipemend: installing Debian packages:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
