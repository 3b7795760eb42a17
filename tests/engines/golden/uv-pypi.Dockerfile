# uv 0.9.9 for Orbit's build stages, from PyPI
FROM r AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3-pip \
 && pip install --break-system-packages --no-cache-dir --root-user-action=ignore uv==0.9.9
FROM scratch
COPY --from=build /usr/local/bin/uv /uv
LABEL org.jupyter.orbit.role="uv" \
      org.jupyter.orbit.uv-version="0.9.9"
