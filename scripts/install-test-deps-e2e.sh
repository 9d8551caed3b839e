#!/bin/sh
# Installs the Debian packages the end-to-end tests need on top of
# scripts/install-deps.sh, and only those that are missing: prometheus for
# its promtool and a real server that scrapes `pipemend serve`'s /metrics
# (tests/e2e/test_metrics.py), and git for the review branches `serve`
# commits (tests/e2e/test_review.py). Works as root or through sudo.
set -eu
PKGS="prometheus git"
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
