"""Speed of abstractive generation: mT5-small and mT5-base architectures, random weights.

Only speed and memory are measured (random weights write nonsense, at the real cost): 512
input tokens, 64 new tokens (forced: min = max), for batch 1 and 8, greedy and 4 beams,
float32 and int8 dynamic quantization, beside the naive baseline (one story at a time,
float32, 4 beams) in the same run. On a CUDA machine the same grid runs in half precision
(bfloat16) too. Prints one JSON object; progress goes to stderr.

    PYTHONPATH=. python benchmarks/abstractive.py                      # everything (CPU: long)
    PYTHONPATH=. python benchmarks/abstractive.py --models small \
        --configs b1-beam4-fp32,b8-greedy-int8
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import threading
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import torch
from transformers import MT5Config, MT5ForConditionalGeneration

from briefing.config import Abstractive
from briefing.summarize.abstractive import quantize_int8

ARCHITECTURES = {
    # From google/mt5-small and google/mt5-base config.json (vocabulary of 250,112 pieces).
    "small": {"d_model": 512, "d_ff": 1024, "num_layers": 8, "num_heads": 6},
    "base": {"d_model": 768, "d_ff": 2048, "num_layers": 12, "num_heads": 12},
}
BASELINE = "b1-beam4-fp32"


@dataclass(frozen=True)
class Config:
    batch: int
    beams: int
    precision: str  # fp32, int8 (CPU) or bf16 (CUDA)

    @property
    def name(self) -> str:
        beams = "greedy" if self.beams == 1 else f"beam{self.beams}"
        return f"b{self.batch}-{beams}-{self.precision}"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    results = []
    for arch in args.models:
        for device in devices:
            results.extend(run_architecture(arch, device, args))
    defaults = Abstractive()
    print(
        json.dumps(
            {
                "benchmark": "abstractive generation speed (random weights)",
                "machine": machine(args.threads),
                "input_tokens": args.input_tokens,
                "new_tokens": args.new_tokens,
                "no_repeat_ngram_size": args.no_repeat,
                "baseline": BASELINE,
                "settings_defaults": {
                    "batch_size": defaults.batch_size,
                    "num_beams": defaults.num_beams,
                    "quantize": defaults.quantize,
                },
                "results": results,
                "best_cpu": best(results),
            },
            indent=1,
        )
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="small,base", help="small,base")
    parser.add_argument("--configs", default="", help=f"comma list like {BASELINE}; default all")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--input-tokens", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--no-repeat", type=int, default=Abstractive().no_repeat_ngram_size)
    parser.add_argument("--batch1-summaries", type=int, default=2, help="summaries at batch 1")
    parser.add_argument("--cpu-only", action="store_true")
    args = parser.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    args.configs = {c for c in args.configs.split(",") if c}
    unknown = set(args.models) - set(ARCHITECTURES)
    if unknown:
        parser.error(f"unknown model sizes: {', '.join(sorted(unknown))}")
    return args


def grid(device: str, wanted: set[str]) -> list[Config]:
    precisions = ["fp32", "int8"] if device == "cpu" else ["bf16"]
    configs = [
        Config(batch, beams, precision)
        for precision in precisions  # float32 first: int8 converts the model in place
        for batch in (1, 8)
        for beams in (1, 4)
    ]
    return [c for c in configs if not wanted or c.name in wanted]


def run_architecture(arch: str, device: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    configs = grid(device, args.configs)
    if not configs:
        return []
    log(f"{arch} on {device}: building a random mT5-{arch} ...")
    model = build_model(arch, device)
    params = sum(p.numel() for p in model.parameters())
    vocab = model.config.vocab_size
    results = []
    quantized = False
    for config in configs:
        if config.precision == "int8" and not quantized:
            model = quantize_int8(model)
            quantized = True
            gc.collect()
        count = config.batch if config.batch > 1 else args.batch1_summaries
        inputs = torch.randint(3, vocab, (count, args.input_tokens), generator=seeded())
        warm_up(model, device, vocab, args)
        seconds, peak_mb = timed(partial(generate, model, inputs, config, device, args))
        row = {
            "model": f"mt5-{arch}",
            "parameters_m": round(params / 1e6, 1),
            "device": device,
            "config": config.name,
            **asdict(config),
            "summaries": count,
            "seconds": round(seconds, 2),
            "seconds_per_summary": round(seconds / count, 3),
            "summaries_per_minute": round(60 * count / seconds, 2),
            "peak_memory_mb": round(peak_mb),
            "memory_kind": "max CUDA allocated" if device == "cuda" else "peak process RSS",
            # Other work on the machine slows a run down: the 1-minute load average tells.
            "load_average": round(os.getloadavg()[0], 1),
        }
        log(json.dumps(row))
        results.append(row)
    add_speedups(results)
    del model
    gc.collect()
    return results


def build_model(arch: str, device: str) -> MT5ForConditionalGeneration:
    shape = ARCHITECTURES[arch]
    config = MT5Config(
        vocab_size=250112,
        d_model=shape["d_model"],
        d_kv=64,
        d_ff=shape["d_ff"],
        num_layers=shape["num_layers"],
        num_decoder_layers=shape["num_layers"],
        num_heads=shape["num_heads"],
        feed_forward_proj="gated-gelu",
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=1,
    )
    torch.manual_seed(0)
    model = MT5ForConditionalGeneration(config).eval()
    # transformers 5 builds mT5 with lm_head tied to the input embeddings, but the real
    # checkpoints carry their own lm_head (and load untied): give it its own copy, so memory
    # is that of the real model (mT5-small 300M parameters, mT5-base 582M).
    model.lm_head.weight = torch.nn.Parameter(model.shared.weight.detach().clone())
    if device == "cuda":
        model = model.to(device="cuda", dtype=torch.bfloat16)
    return model


def generate(
    model: Any, inputs: torch.Tensor, config: Config, device: str, args: argparse.Namespace
) -> None:
    for start in range(0, len(inputs), config.batch):
        batch = inputs[start : start + config.batch].to(device)
        with torch.inference_mode():
            model.generate(
                input_ids=batch,
                attention_mask=torch.ones_like(batch),
                num_beams=config.beams,
                no_repeat_ngram_size=args.no_repeat,
                max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens,
                do_sample=False,
            )
    if device == "cuda":
        torch.cuda.synchronize()


def warm_up(model: Any, device: str, vocab: int, args: argparse.Namespace) -> None:
    ids = torch.randint(3, vocab, (1, 16), generator=seeded()).to(device)
    with torch.inference_mode():
        model.generate(input_ids=ids, max_new_tokens=2, min_new_tokens=2, do_sample=False)


def timed(work: Any) -> tuple[float, float]:
    """Wall seconds of `work()` and the peak memory (MB) while it ran."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    sampler = RssSampler()
    sampler.start()
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    sampler.stop()
    peak = sampler.peak_mb
    if torch.cuda.is_available() and torch.cuda.max_memory_allocated() > 0:
        peak = torch.cuda.max_memory_allocated() / 2**20
    return seconds, peak


class RssSampler:
    """Samples this process's resident memory every 20 ms (ru_maxrss never goes down)."""

    def __init__(self) -> None:
        self.peak_mb = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_mb = max(self.peak_mb, rss_mb())


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_speedups(rows: list[dict[str, Any]]) -> None:
    baseline = next((r for r in rows if r["config"] == BASELINE), None)
    for row in rows:
        row["speedup_vs_naive"] = (
            round(baseline["seconds_per_summary"] / row["seconds_per_summary"], 2)
            if baseline
            else None
        )


def best(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The fastest CPU configuration per model."""
    chosen: dict[str, str] = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        cpu = [r for r in rows if r["model"] == model and r["device"] == "cpu"]
        if cpu:
            top = min(cpu, key=lambda r: r["seconds_per_summary"])
            chosen[model] = f"{top['config']} ({top['speedup_vs_naive']}x naive)"
    return chosen


def machine(threads: int) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "quantized_engine": torch.backends.quantized.engine,
    }


def seeded() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
