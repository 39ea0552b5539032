#!/usr/bin/env bash
# Build the oubliette images locally under the names dev mode (OUBLIETTE_DEV=1) uses:
# oubliette-base:latest, then oubliette-dev:latest on top of it.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/build.sh [--engine docker|container] [--no-cache] [-h|--help]

Builds containers/base/Dockerfile as oubliette-base:latest, then
containers/dev/Dockerfile on top of it as oubliette-dev:latest, with the
repository root as build context.

  --engine E   docker or container (Apple's CLI); default: docker if it is
               installed, else container
  --no-cache   build every layer again
  -h, --help   show this help

Then: OUBLIETTE_DEV=1 oubliette init   (dev mode uses these local images)
USAGE
}

fail() {  # fail MESSAGE HINT
  echo "Error: $1" >&2
  echo "Hint: $2" >&2
  exit 3
}

engine=""
build_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --engine) [ $# -ge 2 ] || { usage >&2; exit 2; }; engine=$2; shift 2 ;;
    --engine=*) engine=${1#--engine=}; shift ;;
    --no-cache) build_args+=(--no-cache); shift ;;
    *) echo "build.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if [ -z "$engine" ]; then
  if command -v docker >/dev/null 2>&1; then
    engine=docker
  elif command -v "${APPLE_CONTAINER_BINARY:-container}" >/dev/null 2>&1; then
    engine=container
  else
    fail "no container engine found (looked for docker and container on PATH)" \
      "install Docker or Apple's container CLI"
  fi
fi

case "$engine" in
  docker)
    command -v docker >/dev/null 2>&1 || fail "docker is not installed" "install Docker, or use --engine container"
    docker info >/dev/null 2>&1 || fail "the Docker daemon is not running" "start Docker and try again"
    build=(docker build)
    ;;
  container)
    binary=${APPLE_CONTAINER_BINARY:-container}
    command -v "$binary" >/dev/null 2>&1 || fail "Apple's container CLI is not installed" "install it, or use --engine docker"
    "$binary" system status >/dev/null 2>&1 || fail "the container system service is not running" "run \`container system start\`"
    build=("$binary" build)
    ;;
  *) echo "build.sh: --engine must be docker or container, not '$engine'" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
echo "Building oubliette-base:latest with $engine..."
"${build[@]}" "${build_args[@]}" --file containers/base/Dockerfile --tag oubliette-base:latest .
echo "Building oubliette-dev:latest with $engine..."
"${build[@]}" "${build_args[@]}" --file containers/dev/Dockerfile \
  --build-arg BASE_IMAGE=oubliette-base:latest --tag oubliette-dev:latest .
echo "Built oubliette-base:latest and oubliette-dev:latest."
