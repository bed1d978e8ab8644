# A stand-in for the official `redis:7-bookworm` image, for machines that cannot pull it: Debian's
# redis-server on the lab's local base (scripts/containers/service-images.sh builds it). What the
# compose stack uses of the official image works the same: redis-server and redis-cli on PATH,
# the data in /data.
ARG BASE_IMAGE=localhost/lab-node-base:24-bookworm
FROM ${BASE_IMAGE}
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
  && apt-get install -y -qq --no-install-recommends redis-server \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no"]
