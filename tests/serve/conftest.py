"""A tiny random classifier directory and a real uvicorn server on 127.0.0.1.

The classifier is a 2-layer, 32-wide random BERT with a WordPiece tokenizer built from a
word list (no hub downloads), saved with ``save_classifier`` like a fine-tuned model.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

pytest.importorskip("torch")
pytest.importorskip("fastapi")

WORDS = ["good", "great", "bad", "terrible", "awful", "happy", "sad", "love", "hate", "car"]


def build_tiny_classifier(directory: Path, labels: tuple[str, ...]) -> Path:
    """Save a random 2-layer BERT classifier with ``labels`` to ``directory``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from scalinglab.finetune.checkpoint import save_classifier

    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory.parent / f"{directory.name}-vocab.txt"
    vocab_file.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]))
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    model = BertForSequenceClassification(config).eval()
    metadata = {
        "method": "full",
        "base_model": "tiny-random-bert",
        "task": "tests",
        "metrics": {"test": {"macro_f1": 0.5, "accuracy": 0.5}},
        "max_length": 32,
    }
    return save_classifier(model, tokenizer, directory, metadata)


@pytest.fixture(scope="session")
def classifier_dir(tmp_path_factory) -> Path:
    """A saved three-label classifier; labels of unequal length catch truncation bugs."""
    root = tmp_path_factory.mktemp("classifier")
    return build_tiny_classifier(root / "model", ("negative", "positive", "neutral-ish"))


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    process: subprocess.Popen
    log: IO[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_dir: Path, token: str, *options: str) -> Server:
    """Run ``scalinglab serve`` in a subprocess (token from the environment variable)
    and wait until /health answers."""
    import httpx

    port = free_port()
    command = [
        sys.executable, "-m", "scalinglab", "serve", "--model", str(model_dir),
        "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
        "--log-level", "warning", *options,
    ]  # fmt: skip
    env = {**os.environ, "SCALINGLAB_TOKEN": token}
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed by stop_server)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Server(url=f"http://127.0.0.1:{port}", token=token, process=process, log=log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            message = log.read()
            log.close()
            raise RuntimeError(f"server exited with {process.returncode}: {message}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("server did not answer /health within 90 s")


def stop_server(server: Server) -> None:
    """Terminate the server (kill it after 15 s) and close its log."""
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    server.log.close()


@pytest.fixture(scope="module")
def server(classifier_dir):
    """A real uvicorn serving the tiny classifier, with a token and small limits."""
    started = start_server(
        classifier_dir, "s3cret", "--max-texts", "8", "--max-chars", "200", "--max-batch", "16"
    )
    try:
        yield started
    finally:
        stop_server(started)


@pytest.fixture(scope="module")
def serve_with(classifier_dir):
    """Start servers of the tiny classifier with given CLI options (token ``s3cret``);
    every one still running is stopped after the module."""
    started: list[Server] = []

    def start(*options: str) -> Server:
        started.append(start_server(classifier_dir, "s3cret", *options))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            stop_server(server)
