# The Gradio app (`python app.py`: the UI and the HTTP API in one server) for the Fargate service. Built by
# `cdk deploy` from the repository root, with only the files stack.APP_IMAGE_FILES lets through.
FROM public.ecr.aws/docker/library/python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False

WORKDIR /app

# torch from the CPU-only index first (the pins of requirements.txt): Fargate has no GPU, and PyPI's Linux
# wheel brings gigabytes of CUDA libraries. 2.9.1+cpu satisfies requirements.txt's ==2.9.1.
COPY requirements.txt ./
RUN pip install $(grep -E '^(torch|torchaudio)==' requirements.txt) --index-url https://download.pytorch.org/whl/cpu \
 && pip install -r requirements.txt

# The engine reads models/ and data/ beside the package, as in a checkout; app.py's folder is on sys.path.
COPY app.py ./
COPY insideout ./insideout
COPY models ./models
COPY data/ ./data/
RUN python -m compileall -q insideout \
 && useradd --create-home --uid 10001 insideout \
 && chown -R insideout /app/data

USER insideout
EXPOSE 7860
CMD ["python", "app.py"]
