"""Section `cuda` of scripts/bench.py: training samples per second on a GPU, with the training
split resident in GPU memory, for nnlab's loop and the compute floor (bench_pipeline.py), with
bf16 autocast and channels_last on and off, and with torch.compile when --compile is given.

nnlab's loop itself runs in fp32 and NCHW; the other variants show what autocast around its step
and a channels_last model would give, by wrapping the same loop (`nnlab_epochs(prepare=...,
autocast=...)`). Only the model is converted to channels_last: Fashion-MNIST has one channel, for
which NCHW and NHWC are the same layout. Each variant trains one untimed epoch first (cuDNN's
algorithm choice, compilation, the allocator's first requests).
"""

from __future__ import annotations

import contextlib
import statistics
from functools import partial

import torch
from bench_common import Options, Target, say, table
from bench_pipeline import config, floor_epochs, nnlab_epochs
from hydra.utils import instantiate

BATCH = 256
# name -> the `nnlab train` overrides that choose it: a small convnet, and a larger one that
# gives bf16 and channels_last some work to do
MODELS = {"LeNet-5": ("experiment=fashion_lenet",), "cnn 32-64-128": ("experiment=fashion_cnn",)}
# name -> (bf16 autocast, channels_last, torch.compile)
VARIANTS = {
    "fp32": (False, False, False),
    "channels_last": (False, True, False),
    "bf16 autocast": (True, False, False),
    "bf16 autocast + channels_last": (True, True, False),
}
COMPILED = {
    "compiled, fp32": (False, False, True),
    "compiled, bf16 autocast + channels_last": (True, True, True),
}
# As on CPU: nnlab's bookkeeping should cost at most a tenth of the bare loop's throughput.
FLOOR_TARGET = Target(">=", 0.90)


def prepare_for(channels_last: bool, compiled: bool):
    def prepare(model: torch.nn.Module) -> torch.nn.Module:
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        return torch.compile(model) if compiled else model

    return prepare


def measure(device: torch.device, opts: Options, with_compile: bool = False,
            samples: int | None = None) -> tuple[list[list], int]:
    """Rows of the section's table and the training images per epoch (`samples`, default 2048
    with --quick, else all). Any device works: the tests run it on CPU, the section on CUDA."""
    root, _ = opts.fashion()
    samples = samples or (2048 if opts.quick else 60000)
    repeats = opts.reps(5)
    variants = {**VARIANTS, **(COMPILED if with_compile else {})}
    rows, used, fp32 = [], 0, {}
    for model in MODELS:
        cfg = config(MODELS[model], BATCH, root, samples, device=str(device))
        data = instantiate(cfg.dataset)
        used = len(data.train)
        for name, (bf16, channels_last, compiled) in variants.items():
            autocast = (partial(torch.autocast, device.type, dtype=torch.bfloat16) if bf16
                        else contextlib.nullcontext)
            prepare = prepare_for(channels_last, compiled)
            try:
                runs = {"nnlab": nnlab_epochs(cfg, device, prepare, autocast),
                        "floor": floor_epochs(cfg, data, device, prepare, autocast)}
                for run in runs.values():
                    run()  # warm-up, untimed
                times = {key: [] for key in runs}
                for r in range(repeats):
                    for key, run in runs.items():
                        times[key].append(run())
                    say(f"cuda {model} {name}: nnlab {used / times['nnlab'][-1]:,.0f}, floor "
                        f"{used / times['floor'][-1]:,.0f} samples/s ({r + 1}/{repeats})")
            except Exception as ex:
                if not compiled:
                    raise
                # torch.compile needs a working compiler tool chain; say so and go on.
                message = " ".join(f"{type(ex).__name__}: {ex}".split())[:200]
                say(f"cuda {model} {name}: failed: {message}")
                rows.append([model, BATCH, name, f"failed: {message}", "", "", "", "", ""])
                continue
            rate = {key: used / statistics.median(t) for key, t in times.items()}
            fp32.setdefault(model, rate["nnlab"])
            rows.append([model, BATCH, name, f"{rate['nnlab']:,.0f}", f"{rate['floor']:,.0f}",
                         *FLOOR_TARGET.cells(rate["nnlab"] / rate["floor"]),
                         f"{rate['nnlab'] / fp32[model]:.2f}x"])
    return rows, used


def section(opts: Options) -> str:
    if not torch.cuda.is_available():
        say("cuda: no CUDA device, skipped")
        return "\n".join([
            "## CUDA",
            "",
            f"Skipped: no CUDA device on this machine (torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda or 'none'}).",
            "",
        ])
    device = torch.device("cuda")
    rows, used = measure(device, opts, with_compile=opts.compile)
    say("cuda: done")
    return "\n".join([
        "## CUDA",
        "",
        f"{torch.cuda.get_device_name(device)}: training samples per second over {used} images "
        f"resident in GPU memory ({opts.fashion()[1]}), batch {BATCH}, median of {opts.reps(5)} "
        "epochs after a warm-up "
        "epoch. nnlab: `nnlab train`'s loop and batcher; floor: forward/backward/step over "
        "pre-normalised tensors in order. The last column is the variant's nnlab throughput over "
        "nnlab's fp32 one." + ("" if opts.compile else " torch.compile: not measured (`--compile`)."),
        "",
        table(["model", "batch", "variant", "nnlab (samples/s)", "floor (samples/s)",
               "nnlab / floor", "target", "result", "speed-up over fp32"], rows),
        "",
    ])
