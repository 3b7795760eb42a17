# Jupyter Orbit's stand-in for the postgres image (15), from Debian packages (postgresql-15).
FROM orbit-base-rootfs:bookworm
COPY dpkg-slim.cfg /etc/dpkg/dpkg.cfg.d/90-orbit-slim
COPY apt-slim.conf /etc/apt/apt.conf.d/90-orbit-slim
COPY orbit-service-entrypoint /usr/local/bin/
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid postgres --home-dir /var/lib/postgresql --shell /bin/sh postgres \
 && install -d /etc/postgresql-common \
 && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
 && chmod 0755 /usr/local/bin/orbit-service-entrypoint \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old
ENV LANG=C.UTF-8 \
    PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EXPOSE 5432
USER postgres
ENTRYPOINT ["/usr/local/bin/orbit-service-entrypoint"]
CMD ["postgres"]
LABEL org.jupyter.orbit.role="service" \
      org.jupyter.orbit.format="1" \
      org.jupyter.orbit.stands-in-for="postgres:15"
