"""Acceptance: MiniLM full fine-tuning vs LoRA on the embedded binary tweets, on this CPU.

Fine-tunes the embedded MiniLM-L6-H384 (22.7M parameters) on ``tweets-binary`` with full
fine-tuning and with LoRA (r=8 on every linear layer of the encoder blocks, i.e. query,
key, value and the ``dense`` projections, plus the pooler; head trained; 1.5% of the
parameters), on the same split and the
same stratified training subsample, and prints test macro-F1, accuracy, trainable share,
training seconds, latency and throughput side by side. Checks the acceptance: full
macro-F1 >= 0.80 and LoRA within 3 points of full with <= 2% trainable parameters.

The training set is subsampled (``--max-train-examples``, default 2,000 of 18,249) and
validation/test are subsampled (``--max-eval-examples``, default 600 each of 2,281/2,282)
so that the run fits in minutes on a busy 2-core machine.

    python benchmarks/finetune_minilm.py --out runs/bench-finetune
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scalinglab.finetune.run import FinetuneOptions, finetune
from scalinglab.finetune.tasks import TaskOptions, load_task
from scalinglab.finetune.training import FinetuneConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-train-examples", type=int, default=2000)
    parser.add_argument("--max-eval-examples", type=int, default=600)
    parser.add_argument("--full-epochs", type=int, default=2)
    parser.add_argument("--lora-epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--lora-targets",
        default="query,key,value,dense",
        help="LoRA target module names, comma-separated (peft's default for BERT: query,value)",
    )
    parser.add_argument("--out", default="runs/bench-finetune")
    args = parser.parse_args()

    task_options = TaskOptions(
        max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples
    )
    task = load_task("tweets-binary", task_options)
    results = {}
    for method, epochs in (("full", args.full_epochs), ("lora", args.lora_epochs)):
        options = FinetuneOptions(
            model="minilm",
            task="tweets-binary",
            method=method,
            method_options={"target_modules": tuple(args.lora_targets.split(","))}
            if method == "lora"
            else {},
            out_dir=str(Path(args.out) / method),
            task_options=task_options,
            train=FinetuneConfig(
                epochs=epochs, max_length=args.max_length, threads=args.threads, progress=False
            ),
        )
        results[method] = finetune(options, task=task).to_dict()

    print(f"task tweets-binary: {task.class_counts()}; {'; '.join(task.notes)}")
    print(
        "| method | epochs | trainable | test macro-F1 | test acc | train s | p50 ms | ex/s @64 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for method, r in results.items():
        print(
            f"| {method} | {len(r['training']['history'])} | {r['trainable_params']:,} "
            f"({100 * r['trainable_fraction']:.2f}%) | {r['test']['macro_f1']:.4f} | "
            f"{r['test']['accuracy']:.4f} | {r['train_seconds']:.0f} | "
            f"{r['latency_ms_p50']:.1f} | {r['throughput_per_s']:.0f} |"
        )
    full, lora = results["full"], results["lora"]
    checks = {
        "full macro-F1 >= 0.80": full["test"]["macro_f1"] >= 0.80,
        "LoRA within 3 points of full": lora["test"]["macro_f1"] >= full["test"]["macro_f1"] - 0.03,
        "LoRA trains <= 2% of parameters": lora["trainable_fraction"] <= 0.02,
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    summary = {"results": results, "checks": checks, "args": vars(args)}
    (Path(args.out) / "benchmark.json").write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
