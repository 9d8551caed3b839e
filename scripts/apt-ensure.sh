#!/bin/sh
# scripts/apt-ensure.sh PACKAGE... - installs the Debian packages named that
# are not installed yet, and only those (apt-get update first, once, when
# any is missing). Works as root or through sudo. The install-*.sh scripts
# say which packages each part of the build and the tests needs and call
# this for the work.
set -eu
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "pipemend: installing Debian packages:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
