#!/bin/sh
# Installs what the MCP client tests (make mcp-test, tests/mcp/) need:
# Node.js and npm from Debian when `node` or `npm` is missing (Debian 12
# ships nodejs 18.20 and npm 9.2; a newer node already on the machine is
# kept), then the pinned npm packages of tests/mcp/package-lock.json with
# `npm ci` (skipped when node_modules already matches the lock). Works as
# root or through sudo.
set -eu
cd "$(dirname "$0")/../tests/mcp"
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    echo "pipemend: installing Debian packages:$missing" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# npm keeps a copy of the lock it installed from in node_modules/
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
   && [ -d node_modules/@modelcontextprotocol/sdk ] && [ -d node_modules/@modelcontextprotocol/inspector-cli ]; then
    exit 0
fi
echo "pipemend: npm ci in tests/mcp" >&2
npm ci --no-audit --no-fund --loglevel=error
