#!/usr/bin/env bash
# Build reco's OCI images without a Docker daemon: ./infra/images/build.sh [TAG]
#
# 1. `./pants package` builds each component's PEX into dist/;
# 2. with buildah installed (Debian: apt-get install buildah skopeo), one image per component
#    from infra/images/Dockerfile (`buildah bud --isolation chroot`), saved as an image archive
#    under dist/images/ and inspected with skopeo (user, entrypoint, healthcheck, size).
# BASE_IMAGE overrides the base (default python:3.11-slim-bookworm; a registry mirror, or a
# local debootstrap image where Docker Hub is out of reach). RECO_IMAGE_REGISTRY names the
# repository (default ghcr.io/reco-mlops); pushing is the CI's job (.github/workflows/ci.yml).
# BUILDAH_OPTS are buildah's global options (e.g. `--storage-driver vfs` where overlay mounts
# are not allowed, as in a VM without fuse).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

TAG="${1:-$(git rev-parse --short HEAD)}"
REGISTRY="${RECO_IMAGE_REGISTRY:-ghcr.io/reco-mlops}"
BASE_IMAGE="${BASE_IMAGE:-python:3.11-slim-bookworm}"
# component  PEX (under dist/)               health port (the cluster profile's ops port)  health path
COMPONENTS=(
  "recommender services.recommender/bin.pex 9180 /healthz"
  "collector   services.collector/bin.pex   9181 /healthz"
  "ingestor    services.ingestor/bin.pex    9102 /healthz"
  "feedback    services.feedback/bin.pex    9103 /healthz"
  "pipelines   infra.images/pipelines.pex   -    -"
)

./pants package services/recommender:bin services/collector:bin services/ingestor:bin services/feedback:bin \
  infra/images:pipelines

if ! command -v buildah >/dev/null; then
  echo "buildah is not installed: the PEX files are in dist/, no images built (apt-get install buildah skopeo)"
  exit 0
fi

mkdir -p dist/images
for spec in "${COMPONENTS[@]}"; do
  read -r name pex port path <<<"$spec"
  [ "$port" = "-" ] && port="" && path=""  # a batch image: no healthcheck target
  image="${REGISTRY}/reco-${name}:${TAG}"
  echo "== ${image}"
  # Docker's image format: the OCI format has no HEALTHCHECK (buildah would drop it).
  buildah ${BUILDAH_OPTS:-} bud --isolation chroot --layers --format docker -f infra/images/Dockerfile \
    --build-arg BASE="${BASE_IMAGE}" --build-arg PEX="${pex}" \
    --build-arg HEALTH_PORT="${port}" --build-arg HEALTH_PATH="${path}" \
    -t "${image}" dist/
  archive="dist/images/reco-${name}-${TAG}.tar"
  rm -f "${archive}"
  buildah ${BUILDAH_OPTS:-} push "${image}" "docker-archive:${archive}:${image}"
  if command -v skopeo >/dev/null; then
    skopeo inspect --config --raw "docker-archive:${archive}" \
      | python3 -c 'import json,sys; c=json.load(sys.stdin)["config"]; print("  user", c.get("User"), "entrypoint", c.get("Entrypoint"), "healthcheck", (c.get("Healthcheck") or {}).get("Test"))'
  fi
  du -h "${archive}" | sed 's/^/  size /'
done
