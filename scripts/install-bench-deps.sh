#!/bin/sh
# Installs the Debian packages `make bench` needs on top of
# scripts/install-deps.sh and scripts/install-test-deps-pg.sh, and only
# those that are missing: `time` for the peak RSS of a run (/usr/bin/time)
# and `linux-perf` for bench/profile_ingest.sh. Not part of the test
# install: no test needs them. Works as root or through sudo.
set -eu
PKGS="time linux-perf"
exec sh "$(dirname "$0")/apt-ensure.sh" $PKGS
