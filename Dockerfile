# The d2e-zoo app (python app.py) on CPU PyTorch, served on port 7860.
#   docker build -t d2e-zoo-app . && docker run --rm -p 7860:7860 d2e-zoo-app
# Same install as the README (torch==2.14.1 torchvision==0.29.1, then the package), taken from
# PyTorch's CPU wheel index; the bundled zoo ships inside the package, so nothing is downloaded
# at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HUB_OFFLINE=1 \
    MPLCONFIGDIR=/tmp/matplotlib
# HF_HUB_OFFLINE=1: the bundled zoo, deterministic; run with -e HF_HUB_OFFLINE=0 to try the Hub first

WORKDIR /app

RUN pip install --no-cache-dir torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu

COPY requirements.txt pyproject.toml README.md ./
COPY d2e_zoo ./d2e_zoo
RUN pip install --no-cache-dir -r requirements.txt . \
    && useradd --create-home --uid 1000 app

COPY app.py ./

USER 1000
EXPOSE 7860
CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "7860"]
