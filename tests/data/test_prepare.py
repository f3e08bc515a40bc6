"""``prepare_corpus``: shards that decode to the input, bounded memory, exact resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from scalinglab.data import prepare as prepare_module
from scalinglab.data.corpus import load_corpus
from scalinglab.data.prepare import prepare_corpus, read_index
from scalinglab.data.shards import build_shards, is_validation_document
from scalinglab.data.tokenizer import TrainedTokenizer
from scalinglab.errors import ScalingLabError

SMALL = {"vocab_size": 400, "sample_bytes": 100_000, "shard_tokens": 5000, "workers": 1,
         "chunk_chars": 32_768}  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 200 KJV chapters as a text file (about 0.8 MB), blank-line separated."""
    path = tmp_path_factory.mktemp("corpus") / "kjv200.txt"
    path.write_text("\n\n".join(load_corpus("kjv").documents[:200]) + "\n")
    return path


def _stream(folder: Path, split: str) -> np.ndarray:
    index = read_index(folder)
    files = [folder / e["file"] for e in index["splits"][split]["shards"]]
    return np.concatenate([np.fromfile(f, dtype=index["dtype"]) for f in files])


def _decoded(folder: Path, split: str) -> list[str]:
    index = read_index(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    ids = _stream(folder, split).tolist()
    separator = index["tokenizer"]["separator_id"]
    docs, start = [], 0
    for position, token in enumerate(ids):
        if token == separator:
            docs.append(tokenizer.decode(ids[start:position], skip_special_tokens=False))
            start = position + 1
    assert start == len(ids)  # the stream ends with a separator
    return docs


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_shards_decode_to_the_input_and_match_the_in_memory_pipeline(
    corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = prepare_corpus(str(corpus), out, **SMALL)
    index = read_index(out)
    assert index["complete"]
    assert index["dtype"] == "uint16"
    assert index["vocab_size"] == 400
    docs = load_corpus(corpus).documents
    assert _decoded(out, "train") == [d for d in docs if not is_validation_document(d, 0.05)]
    assert _decoded(out, "val") == [d for d in docs if is_validation_document(d, 0.05)]
    for split in ("train", "val"):
        entries = index["splits"][split]["shards"]
        assert all(0 < e["tokens"] <= 5000 for e in entries)
        for entry in entries:
            assert (out / entry["file"]).stat().st_size == 2 * entry["tokens"]
        assert sum(e["tokens"] for e in entries) == index["splits"][split]["tokens"]
        assert result.tokens[split] == index["splits"][split]["tokens"]
    train_sizes = [e["tokens"] for e in index["splits"]["train"]["shards"]]
    assert set(train_sizes[:-1]) == {5000}  # val shards are cut with them, so shorter
    assert result.shards_written == len(list(out.glob("*-*.bin")))
    assert result.shards_kept == 0
    tok = TrainedTokenizer(
        Tokenizer.from_file(str(out / "tokenizer.json")), "byte_bpe", "k", out / "tokenizer.json"
    )
    reference = build_shards(load_corpus(corpus), tok, cache_dir=tmp_path / "cache")
    assert np.array_equal(_stream(out, "train"), reference.train)
    assert np.array_equal(_stream(out, "val"), reference.val)
    again = prepare_corpus(str(corpus), out, **SMALL)
    assert again.shards_written == 0
    assert again.shards_kept == result.shards_written


def test_output_does_not_depend_on_the_number_of_workers(corpus: Path, tmp_path: Path) -> None:
    prepare_corpus(str(corpus), tmp_path / "one", **SMALL)
    prepare_corpus(str(corpus), tmp_path / "two", **{**SMALL, "workers": 2})
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def _peak_bytes(source: Path, out: Path) -> int:
    """Peak bytes Python and numpy allocated while preparing ``source`` in one process,
    with shards of 100,000 tokens so that the manifest stays a few entries long."""
    tracemalloc.start()
    try:
        prepare_corpus(str(source), out, **{**SMALL, "shard_tokens": 100_000})
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_corpus(corpus: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("\n\n".join([corpus.read_text()] * 3))
    small_peak = _peak_bytes(corpus, tmp_path / "small")
    big_peak = _peak_bytes(big, tmp_path / "big")
    tokens = [read_index(tmp_path / n)["splits"]["train"]["tokens"] for n in ("small", "big")]
    assert tokens[1] > 2.9 * tokens[0]
    assert big_peak < 1.25 * small_peak, (small_peak, big_peak)


class _KilledError(Exception):
    pass


def test_an_interrupted_preparation_resumes_without_redoing_shards(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    encode = prepare_module.encode_documents

    def counted(*args, **kwargs):
        calls.append(1)
        return encode(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "encode_documents", counted)
    whole = tmp_path / "whole"
    prepare_corpus(str(corpus), whole, **SMALL)
    n_chunks = len(calls)
    out = tmp_path / "out"
    written: list[str] = []

    def kill_after_five(split: str, entry: dict) -> None:
        written.append(entry["file"])
        if len(written) == 5:
            raise _KilledError

    calls.clear()
    with pytest.raises(_KilledError):
        prepare_corpus(str(corpus), out, **SMALL, on_shard=kill_after_five)
    done_before = len(calls)
    calls.clear()
    (out / ".train-00099.bin.tmp123").write_bytes(b"half a shard")
    kept = {name: (out / name).stat() for name in written}
    assert not read_index(out)["complete"]
    result = prepare_corpus(str(corpus), out, **SMALL)
    assert result.shards_kept == 5
    assert len(calls) <= n_chunks - done_before + 2  # a resume redoes about one chunk
    assert result.shards_written == len(list(whole.glob("*-*.bin"))) - 5
    for name, before in kept.items():
        after = (out / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _files(out) == _files(whole)


@pytest.mark.slow
def test_a_killed_process_resumes(corpus: Path, tmp_path: Path) -> None:
    source = tmp_path / "kjv.txt"
    source.write_text("\n\n".join(load_corpus("kjv").documents[:600]))
    out = tmp_path / "out"
    args = [sys.executable, "-m", "scalinglab", "data", "prepare", str(source), "--out", str(out),
            "--vocab-size", "400", "--sample-bytes", "1e5", "--shard-tokens", "3000",
            "--workers", "2", "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    child = subprocess.Popen(args, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if (out / "index.json").exists() and len(read_index(out)["splits"]["train"]["shards"]) >= 3:
            break
        time.sleep(0.01)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    index = read_index(out)
    assert not index["complete"], "finished before it could be killed"
    done = [e["file"] for s in ("train", "val") for e in index["splits"][s]["shards"]]
    inodes = {name: (out / name).stat().st_ino for name in done}
    finished = subprocess.run(
        [*args, "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout)["shards_kept"] == len(done)
    assert {name: (out / name).stat().st_ino for name in done} == inodes
    whole = tmp_path / "whole"
    prepare_corpus(
        str(source), whole, vocab_size=400, sample_bytes=100_000, shard_tokens=3000, workers=1
    )
    assert _files(out) == _files(whole)


def test_a_given_tokenizer_json_is_used_with_its_end_of_text(corpus: Path, tmp_path: Path) -> None:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=350, special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tokenizer.train_from_iterator(load_corpus(corpus).documents[:20], trainer=trainer)
    path = tmp_path / "tok.json"
    tokenizer.save(str(path))
    out = tmp_path / "out"
    prepare_corpus(str(corpus), out, tokenizer=str(path), shard_tokens=50_000, workers=1)
    index = read_index(out)
    assert index["tokenizer"]["separator"] == "</s>"
    assert index["tokenizer"]["separator_id"] == 1
    assert index["vocab_size"] == 350
    docs = load_corpus(corpus).documents
    assert _decoded(out, "val") == [d for d in docs if is_validation_document(d, 0.05)]
    with pytest.raises(ScalingLabError, match="give one of the two"):
        prepare_corpus(str(corpus), tmp_path / "x", tokenizer=str(path), vocab_size=500)


def test_refusals(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ScalingLabError, match="causal families"):
        prepare_corpus(str(corpus), tmp_path / "b", family="bert")
    out = tmp_path / "out"
    prepare_corpus(str(corpus), out, **SMALL)
    with pytest.raises(ScalingLabError, match=r"other settings.*shard_tokens"):
        prepare_corpus(str(corpus), out, **{**SMALL, "shard_tokens": 6000})
    with (out / "tokenizer.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(ScalingLabError, match="missing or changed"):
        prepare_corpus(str(corpus), out, **SMALL)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ScalingLabError, match="not empty"):
        prepare_corpus(str(corpus), foreign, **SMALL)
    text = tmp_path / "t.txt"
    text.write_text("one short document")
    with pytest.raises(ScalingLabError, match="val split"):
        prepare_corpus(str(text), tmp_path / "t", **SMALL)


def test_a_hugging_face_tokenizer_is_loaded_through_auto_tokenizer(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from scalinglab.finetune.models import minilm_dir

    name = str(minilm_dir())  # a local HF folder: what from_pretrained resolves offline
    text = tmp_path / "c.txt"
    docs = load_corpus("kjv").documents[:40]
    text.write_text("\n\n".join(docs))
    out = tmp_path / "out"
    prepare_corpus(str(text), out, tokenizer=name, workers=1)
    index = read_index(out)
    assert index["tokenizer"]["separator"] == "[SEP]"
    assert index["vocab_size"] == 30522
    assert index["dtype"] == "uint16"
    reference = AutoTokenizer.from_pretrained(name)
    sep = reference.sep_token_id
    expected = [
        i
        for d in docs
        if is_validation_document(d, 0.05)
        for i in [*reference(d, add_special_tokens=False)["input_ids"], sep]
    ]
    assert _stream(out, "val").tolist() == expected
