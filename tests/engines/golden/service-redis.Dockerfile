# Jupyter Orbit's stand-in for the redis image (7), from Debian packages (redis-server).
FROM debian:bookworm-slim
COPY dpkg-slim.cfg /etc/dpkg/dpkg.cfg.d/90-orbit-slim
COPY apt-slim.conf /etc/apt/apt.conf.d/90-orbit-slim
COPY orbit-service-entrypoint /usr/local/bin/
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid redis --home-dir /data --shell /bin/sh redis \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && install -d -o redis -g redis -m 0755 /data \
 && chmod 0755 /usr/local/bin/orbit-service-entrypoint \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old
ENV LANG=C.UTF-8
EXPOSE 6379
WORKDIR /data
USER redis
ENTRYPOINT ["/usr/local/bin/orbit-service-entrypoint"]
CMD ["redis-server"]
LABEL org.jupyter.orbit.role="service" \
      org.jupyter.orbit.format="1" \
      org.jupyter.orbit.stands-in-for="redis:7"
