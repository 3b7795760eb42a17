# Jupyter Orbit hub user server over orbit-kernel:abc-hub; the project's files come last.
FROM orbit-kernel:abc-hub
RUN install -d /opt/orbit/server/share/jupyter/kernels/python3 \
 && printf '%s\n' '{"argv": ["/opt/orbit/env/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python 3 (ipykernel)", "language": "python"}' > /opt/orbit/server/share/jupyter/kernels/python3/kernel.json \
 && useradd --uid 1000 --user-group --create-home --shell /bin/bash jovyan \
 && install -d -o 1000 -g 1000 /home/jovyan/work
ENV PATH=/opt/orbit/env/bin:/opt/orbit/base/bin:/opt/orbit/server/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/home/jovyan \
    SHELL=/bin/bash
USER 1000:1000
WORKDIR /home/jovyan/work
COPY --chown=1000:1000 . /home/jovyan/work/
CMD ["/opt/orbit/server/bin/jupyterhub-singleuser"]
