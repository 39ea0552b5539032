#!/usr/bin/env bash
# Build the oubliette images locally under the names dev mode (OUBLIETTE_DEV=1) uses:
# oubliette-base:latest, then oubliette-dev:latest on top of it.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/build.sh [--engine docker|container] [--tag-prefix P] [--no-cache] [-h|--help]

Builds containers/base/Dockerfile as oubliette-base:latest, then
containers/dev/Dockerfile on top of it as oubliette-dev:latest, with the
repository root as build context.

  --engine E       docker or container (Apple's CLI); default: docker if it is
                   installed, else container
  --tag-prefix P   name the images P-oubliette-base:latest and P-oubliette-dev:latest
                   (several people building on one shared engine); it prints the
                   "containers" lines for your config
  --no-cache       build every layer again
  -h, --help       show this help

Then: OUBLIETTE_DEV=1 oubliette init --dev   (dev mode uses these local images)
USAGE
}

fail() {  # fail MESSAGE HINT
  echo "Error: $1" >&2
  echo "Hint: $2" >&2
  exit 3
}

engine=""
prefix=""
build_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --engine) [ $# -ge 2 ] || { usage >&2; exit 2; }; engine=$2; shift 2 ;;
    --engine=*) engine=${1#--engine=}; shift ;;
    --tag-prefix) [ $# -ge 2 ] || { usage >&2; exit 2; }; prefix=$2; shift 2 ;;
    --tag-prefix=*) prefix=${1#--tag-prefix=}; shift ;;
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

if [ -n "$prefix" ]; then
  [[ "$prefix" =~ ^[a-z0-9][a-z0-9._-]{0,63}$ ]] || {
    echo "build.sh: --tag-prefix must be lowercase letters, digits, '.', '_' or '-', not '$prefix'" >&2; exit 2; }
  prefix="$prefix-"
fi
base="${prefix}oubliette-base:latest"
dev="${prefix}oubliette-dev:latest"

cd "$(dirname "$0")/.."
echo "Building $base with $engine..."
"${build[@]}" "${build_args[@]}" --file containers/base/Dockerfile --tag "$base" .
echo "Building $dev with $engine..."
"${build[@]}" "${build_args[@]}" --file containers/dev/Dockerfile \
  --build-arg BASE_IMAGE="$base" --tag "$dev" .
echo "Built $base and $dev."
if [ -n "$prefix" ]; then
  echo "Use them in your config (oubliette.jsonc): \"containers\": {\"base\": \"$base\", \"dev\": \"$dev\"}"
fi
