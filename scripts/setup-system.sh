#!/usr/bin/env bash
# Install the Debian packages eohub needs, then (with --test) make the test services ready.
#   scripts/setup-system.sh          python3-venv, npm (the portal's map libraries)
#   scripts/setup-system.sh --test   + PostgreSQL 15 with PostGIS 3, started, with a test role,
#                                    + chromium (the portal's browser tests)
# Idempotent: installs only what is missing. Uses sudo when not run as root.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

missing=()
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ "$want_test" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  dpkg -s postgresql-15 >/dev/null 2>&1 || missing+=(postgresql-15)
  dpkg -s postgresql-15-postgis-3 >/dev/null 2>&1 || missing+=(postgresql-15-postgis-3)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "$want_test" = 1 ] || exit 0

# PostgreSQL must answer on 127.0.0.1:5432.
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect 15 main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

# A superuser role for the test databases (password auth works whatever pg_hba.conf says).
role_sql="DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='eohub_test') THEN
  CREATE ROLE eohub_test LOGIN SUPERUSER PASSWORD 'eohub_test'; END IF; END\$\$;"
if psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -d postgres -qc "$role_sql" >/dev/null
else
  $SUDO -u postgres psql -d postgres -qc "$role_sql" >/dev/null 2>&1 \
    || su postgres -c "psql -d postgres -qc \"$role_sql\"" >/dev/null
fi
echo "PostgreSQL + PostGIS ready (role eohub_test on 127.0.0.1:5432)"
