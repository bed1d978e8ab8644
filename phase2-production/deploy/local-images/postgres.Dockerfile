# A stand-in for the official `postgres:16-bookworm` image, for machines that cannot pull it:
# Debian's PostgreSQL 15 on the lab's local base (scripts/containers/service-images.sh builds
# it), with an entry point that does what the compose stack asks of the official one: on an
# empty data folder, initdb with POSTGRES_USER and POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE)
# and a database POSTGRES_DB; then the server, listening on every address of the container.
ARG BASE_IMAGE=localhost/lab-node-base:24-bookworm
FROM ${BASE_IMAGE}
RUN apt-get -o Acquire::Check-Valid-Until=false update -qq \
  && apt-get install -y -qq --no-install-recommends postgresql-15 postgresql-client-15 \
  && rm -rf /var/lib/apt/lists/* \
  && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
  && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]
