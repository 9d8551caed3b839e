#!/bin/sh
# Installs the Debian packages pipemend needs to build, test and run its
# demo (libpq-dev to build the PostgreSQL backend, postgresql for the server
# the tests start themselves), and only those that are missing. Works as
# root or through sudo.
set -eu
PKGS="gcc make pkg-config libsqlite3-dev sqlite3 libjansson-dev libyaml-dev libssl-dev libpg-query-dev \
libpq-dev postgresql libmicrohttpd-dev libpcre2-dev libicu-dev libcurl4-openssl-dev libcmocka-dev python3 clang libisal-dev libzstd-dev libxxhash-dev"
exec sh "$(dirname "$0")/apt-ensure.sh" $PKGS
