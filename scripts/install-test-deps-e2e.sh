#!/bin/sh
# Installs the Debian packages the end-to-end tests need on top of
# scripts/install-deps.sh, and only those that are missing: prometheus for
# its promtool and a real server that scrapes `pipemend serve`'s /metrics
# (tests/e2e/test_metrics.py), and git for the review branches `serve`
# commits (tests/e2e/test_review.py), and zstd for the compressed feeds of
# tests/e2e/test_formats.py. Works as root or through sudo.
set -eu
PKGS="prometheus git zstd"
exec sh "$(dirname "$0")/apt-ensure.sh" $PKGS
