# CPU image of the gasleak service (serve mode, the shipped model; no training or benchmark
# code). Start it with PostgreSQL: docker compose -f deploy/docker-compose.yml up --build
# Alone, on the embedded SQLite store in a volume: docker build -t gasleak . &&
#   docker run -p 8080:8080 -v gasleak-data:/var/lib/gasleak gasleak
FROM python:3.11-slim
WORKDIR /srv/gasleak
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# 1. Dependencies, in layers rebuilt only when pyproject.toml changes: torch first (the CPU
#    wheel), then the runtime dependencies read from pyproject.toml (not the dev or train
#    extras: no matplotlib, tqdm, pytest, onnx, playwright).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt && rm /tmp/requirements.txt

# 2. The trained model (changes when retrained), then the code (changes most often).
COPY artifacts ./artifacts
COPY alembic.ini main.py ./
COPY migrations ./migrations
COPY app ./app

# 3. An unprivileged user; the store lives in a volume (SQLite by default; set
#    GASLEAK_DATABASE_URL for PostgreSQL, as deploy/docker-compose.yml does).
RUN useradd --system --uid 10001 gasleak \
    && mkdir -p /var/lib/gasleak && chown gasleak /var/lib/gasleak
ENV GASLEAK_DB_PATH=/var/lib/gasleak/gasleak.db
VOLUME /var/lib/gasleak
USER gasleak
EXPOSE 8080
# Ready = model loaded, store writable, scorer running. Start-up (torch import, model load,
# migrations) takes ~10 s on a laptop; 60 s of grace before failures count.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=4)"]
CMD ["python", "main.py", "--mode", "serve", "--host", "0.0.0.0", "--port", "8080"]
