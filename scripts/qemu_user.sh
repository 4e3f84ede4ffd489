#!/usr/bin/env bash
# Installs qemu-user (Debian's package) unless qemu-x86_64 is already here: tests/run.rs runs a
# trial on emulated older CPUs with it, to check that the kernels chosen for each give the same
# result. Needs root; the test calls it when it runs as root (CI does).
set -euo pipefail
command -v qemu-x86_64 >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq qemu-user >/dev/null
qemu-x86_64 --version | head -1
