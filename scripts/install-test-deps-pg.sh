#!/bin/sh
# Installs the Debian packages the PostgreSQL end-to-end run (make e2e-pg)
# needs on top of scripts/install-deps.sh, and only those that are missing:
# a PostgreSQL server for tests/pg/pgserver.py to initdb and start, and
# psycopg2 for the harness's own queries. Works as root or through sudo.
set -eu
PKGS="postgresql python3-psycopg2"
exec sh "$(dirname "$0")/apt-ensure.sh" $PKGS
