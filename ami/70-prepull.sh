#!/usr/bin/env bash
# Optional image pre-pull (Packer variable prepull_images): images an organisation starts on
# most instances (sidecars, a base runtime) are baked into the AMI, so that booting does not
# wait for a registry. Empty by default. Needs a running Docker engine, which only the EC2
# builder has; the local build container has no init, so a non-empty list fails there loudly
# instead of producing an image without the promised images.
set -euo pipefail

read -r -a images <<<"${TAUPAGE_PREPULL_IMAGES:-}"
if ((${#images[@]} == 0)); then
  echo "no images to pre-pull"
  exit 0
fi
if [[ ! -d /run/systemd/system ]]; then
  echo "pre-pull needs systemd and dockerd (EC2 builder); this build has neither" >&2
  exit 1
fi
systemctl start docker.service
for image in "${images[@]}"; do
  docker pull --quiet "$image"
done
# Stopped again so that the cleanup step sees a quiet system.
systemctl stop docker.service docker.socket containerd.service
