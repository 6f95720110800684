#!/usr/bin/env bash
# Post-processor of the amazon-ebs build (packer.pkr.hcl): marks the new AMI ImdsSupport=v2.0,
# so that every instance launched from it gets HttpTokens=required (IMDSv1 off) whatever its
# launch template says. Packer 1.6 cannot set this itself (imds_support arrived in 1.8).
#
#   ami/post/require-imdsv2.sh MANIFEST REGION
set -euo pipefail

manifest="$1"
region="$2"
# The manifest's last build is this one; its artifact_id is "region:ami-id[,region:ami-id...]".
artifacts="$(jq -r '.builds[-1].artifact_id' "$manifest")"
IFS=, read -r -a pairs <<<"$artifacts"
for pair in "${pairs[@]}"; do
  ami="${pair#*:}"
  ami_region="${pair%%:*}"
  [[ -n "$ami_region" ]] || ami_region="$region"
  echo "requiring IMDSv2 for $ami ($ami_region)"
  aws ec2 modify-image-attribute --region "$ami_region" --image-id "$ami" --imds-support v2.0
done
