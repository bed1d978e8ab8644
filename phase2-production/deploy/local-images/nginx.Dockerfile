# A stand-in for the official `nginx:1.27-bookworm` image, for machines that cannot pull it:
# Debian's nginx on the lab's local base (scripts/containers/service-images.sh builds it). The
# compose stack mounts its own /etc/nginx/nginx.conf, so the two images serve alike.
ARG BASE_IMAGE=localhost/lab-node-base:24-bookworm
FROM ${BASE_IMAGE}
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
  && apt-get install -y -qq --no-install-recommends nginx \
  && rm -rf /var/lib/apt/lists/* \
  && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
