# uv for Orbit's build stages (the host's own binary)
FROM scratch
COPY uv /uv
LABEL org.jupyter.orbit.role="uv" \
      org.jupyter.orbit.uv-version="0.9.9"
