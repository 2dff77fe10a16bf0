#!/usr/bin/env bash
# Install the servers that tests and local dev run on 127.0.0.1 (started by scripts/services.py and by
# the test fixtures): redis-server and PostgreSQL from Debian, and pinned npm packages under
# .services/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${SERVICES_DIR:-.services}"
COSMOSDB_SERVER_VERSION=1.0.1
AZURITE_VERSION=3.37.0

if ! command -v redis-server >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi
# PostgreSQL: the grants store's second backend in the contract tests (scripts/devservices.py).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi

mkdir -p "$DIR"
if [ ! -f "$DIR/node_modules/@vercel/cosmosdb-server/package.json" ] \
  || ! grep -q "\"version\": \"$COSMOSDB_SERVER_VERSION\"" "$DIR/node_modules/@vercel/cosmosdb-server/package.json"; then
  npm install --prefix "$DIR" --no-audit --no-fund "@vercel/cosmosdb-server@$COSMOSDB_SERVER_VERSION"
fi
if [ ! -f "$DIR/node_modules/azurite/package.json" ] \
  || ! grep -q "\"version\": \"$AZURITE_VERSION\"" "$DIR/node_modules/azurite/package.json"; then
  npm install --prefix "$DIR" --no-audit --no-fund "azurite@$AZURITE_VERSION"
fi
