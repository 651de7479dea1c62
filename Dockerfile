# One image for every worker; the command picks the worker: `orderflow worker stock`.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
COPY orderflow orderflow
RUN pip install --no-cache-dir . && useradd --system orderflow
USER orderflow
EXPOSE 9100
ENTRYPOINT ["orderflow"]
CMD ["--help"]
