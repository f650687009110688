# Real servers for the tests (sourced by .ci/run): OpenStack Swift with s3api (the S3-compatible
# endpoint) + memcached, and Redis. test/support/services.ts starts and stops them per test file.
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends swift-proxy swift-object swift-container swift-account memcached redis-server
