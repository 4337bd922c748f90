# CPU image of the gasleak service. Build: docker build -t gasleak .
# Run: docker run -p 8080:8080 gasleak   (API docs at http://localhost:8080/docs)
FROM python:3.11-slim
WORKDIR /srv/gasleak
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY app ./app
COPY bench ./bench
RUN pip install .
COPY main.py alembic.ini ./
COPY migrations ./migrations
COPY artifacts ./artifacts
RUN useradd --system gasleak && chown -R gasleak /srv/gasleak
USER gasleak
EXPOSE 8080
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz')"
CMD ["python", "main.py", "--mode", "serve", "--host", "0.0.0.0", "--port", "8080"]
