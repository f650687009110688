# System packages the tests need (sourced by .ci/run). Every service is started by the tests
# themselves on 127.0.0.1 and free ports (test/support/services.ts) and stopped after.
#   Swift (s3api) + memcached: the S3-compatible store      redis-server: BullMQ
#   slurmctld + slurmd + munge: the Slurm executor          chromium: dashboard browser tests
#   libegl/gles/mesa: WebGPU (Dawn) on Mesa's software GL   clang + lld + llvm (llvm-objdump): the wasm kernel rebuild check
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  swift-proxy swift-object swift-container swift-account memcached redis-server \
  slurmctld slurmd slurm-client munge \
  chromium \
  libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri \
  clang lld llvm
