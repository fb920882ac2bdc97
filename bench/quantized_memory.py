"""Peak memory of a quantized denoiser against bfloat16 (not a test).

A random-weight Flux.1 transformer at 1/8 of the real width (all 19 double and 38 single blocks,
3 heads of 128) is saved once as a bfloat16 diffusers component. Each variant then runs in a fresh
process: load the transformer through the project's loading path with `transformer.weight_dtype`
set to the variant (train dtype bfloat16), attach a rank-16 LoRA to every Linear layer, and run one gradient-checkpointed
AdamW step on one 16×16 latent (64 image and 32 text tokens). Without Flux in diffusers the SD 1.5 UNet (1/8 width) is used.
A quantized variant loads layer by layer from the file (the project's path); `<dtype>/from_pretrained`
loads it through diffusers' `from_pretrained` with a `TorchAoConfig` instead, for comparison.

    .venv/bin/python bench/quantized_memory.py [--variants BFLOAT_16 INT_8 FLOAT_8 INT_8/from_pretrained]

Prints, per variant, the peak RSS (psutil, sampled every 2 ms; the kernel's own peak as a check),
the same without pages of mapped files (the loaded safetensors file stays mapped), the RSS after
imports, and the ratio of each variant's peaks to bfloat16's, total and above imports.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build(path: Path) -> str:
    """Save the random model; returns the component's class name."""
    import torch

    torch.manual_seed(0)
    try:
        from diffusers import FluxTransformer2DModel

        model = FluxTransformer2DModel(patch_size=1, in_channels=64, out_channels=64, num_layers=19,
                                       num_single_layers=38, attention_head_dim=128, num_attention_heads=3,
                                       joint_attention_dim=512, pooled_projection_dim=96,
                                       axes_dims_rope=[16, 56, 56], guidance_embeds=True)
    except ImportError:
        from diffusers import UNet2DConditionModel

        model = UNet2DConditionModel(block_out_channels=(40, 80, 160, 160), cross_attention_dim=96,
                                     attention_head_dim=8)
    model.to(torch.bfloat16).save_pretrained(path / _part(type(model).__name__))
    return type(model).__name__


def _part(cls_name: str) -> str:
    return "transformer" if cls_name == "FluxTransformer2DModel" else "unet"


class PeakSampler:
    """The largest RSS psutil sees while running."""

    def __init__(self, interval: float = 0.002):
        import psutil

        self.process, self.interval, self.peak, self.peak_anon = psutil.Process(), interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.interval)

    def sample(self):
        info = self.process.memory_info()
        self.peak = max(self.peak, info.rss)
        self.peak_anon = max(self.peak_anon, info.rss - info.shared)  # without mapped file pages

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.sample()


def _inputs(model, torch):
    g = torch.Generator().manual_seed(0)
    dtype = torch.bfloat16
    if type(model).__name__ == "FluxTransformer2DModel":
        tokens, text = 8 * 8, 32  # a 16×16 latent packed into 2×2 patches; 32 text tokens
        img_ids = torch.zeros(tokens, 3)
        img_ids[:, 1] = torch.arange(8).repeat_interleave(8)
        img_ids[:, 2] = torch.arange(8).repeat(8)
        return dict(hidden_states=torch.randn(1, tokens, 64, generator=g).to(dtype),
                    encoder_hidden_states=torch.randn(1, text, 512, generator=g).to(dtype),
                    pooled_projections=torch.randn(1, 96, generator=g).to(dtype),
                    timestep=torch.tensor([0.5]), guidance=torch.tensor([3.5]),
                    img_ids=img_ids, txt_ids=torch.zeros(text, 3))
    return dict(sample=torch.randn(1, 4, 32, 32, generator=g).to(dtype), timestep=torch.tensor([500]),
                encoder_hidden_states=torch.randn(1, 16, 96, generator=g).to(dtype))


def run_variant(path: str, cls_name: str, variant: str) -> dict:
    import diffusers
    import psutil
    import torch

    from modules.adapters import peft_adapters
    from modules.config.enums import DataType, PeftType
    from modules.config.train_config import TrainConfig
    from modules.families.parts import diffusers_io, quantization
    from modules.families.parts.quantization import quantized_linear_names

    dtype_name, _, loader = variant.partition("/")

    torch.set_num_threads(2)
    cfg = TrainConfig.default_values()
    cfg.train_dtype = DataType.BFLOAT_16
    cfg.transformer.weight_dtype = cfg.unet.weight_dtype = DataType(dtype_name)
    cfg.peft_type, cfg.lora_rank, cfg.lora_alpha = PeftType.LORA, 16, 16.0
    cfg.lora_weight_dtype = DataType.FLOAT_32
    part = _part(cls_name)
    cls = getattr(diffusers, cls_name)
    info = psutil.Process().memory_info()
    baseline, baseline_anon = info.rss, info.rss - info.shared
    with PeakSampler() as sampler:
        if loader == "from_pretrained":
            model = cls.from_pretrained(path, subfolder=part,
                                        **quantization.loading_kwargs(cls, path, part, cfg, part))
            quantization.complete(model, cfg, part)
        else:
            model = diffusers_io.load_component(cls, path, part, cfg)
        if quantization_expected(dtype_name):
            assert quantized_linear_names(model), "no layer was quantized"
        model.requires_grad_(False)
        model.enable_gradient_checkpointing()  # the part setting's default, as a training run has it
        targets = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n]
        peft_adapters.attach_adapter(model, part, cfg, targets)
        params = peft_adapters.adapter_parameters(model)
        optimizer = torch.optim.AdamW(params, lr=1e-4)
        loaded, load_peak = psutil.Process().memory_info().rss, sampler.peak
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(**_inputs(model, torch), return_dict=False)[0]
        loss = out.float().pow(2).mean()
        loss.backward()
        optimizer.step()
    kernel_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"variant": variant, "peak": sampler.peak, "kernel_peak": kernel_peak, "baseline": baseline,
            "peak_anon": sampler.peak_anon, "baseline_anon": baseline_anon,
            "loaded": loaded, "load_peak": load_peak,
            "loss": float(loss), "quantized_layers": len(quantized_linear_names(model)), "linears": len(targets)}


def quantization_expected(dtype_name: str) -> bool:
    from modules.families.parts.quantization import is_quantized

    return is_quantized(dtype_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["BFLOAT_16", "INT_8", "FLOAT_8", "INT_8/from_pretrained",
                                                          "FLOAT_8/from_pretrained"])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(*args.child)))
        return
    if args.build:
        print(build(Path(args.build)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        # built in a process of its own: a child's kernel peak starts from its parent's (kept across exec)
        built = subprocess.run([sys.executable, __file__, "--build", tmp], capture_output=True, text=True, check=True)
        cls_name = built.stdout.strip().splitlines()[-1]
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*.safetensors"))
        print(f"{cls_name}, 1/8 width, bfloat16 file {size / 2**20:.0f} MiB")
        results = {}
        for variant in args.variants:
            proc = subprocess.run([sys.executable, __file__, "--child", tmp, cls_name, variant],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(f"{variant}: failed\n{proc.stderr[-2000:]}")
                continue
            results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    reference = results.get("BFLOAT_16")
    mib = 2**20
    for variant, r in results.items():
        print(f"{variant:>23}: peak RSS {r['peak'] / mib:.0f} MiB (kernel's peak {r['kernel_peak'] / mib:.0f}), "
              f"without mapped files {r['peak_anon'] / mib:.0f} MiB; after imports {r['baseline'] / mib:.0f} MiB; "
              f"loaded {r['loaded'] / mib:.0f} MiB; {r['quantized_layers']}/{r['linears']} Linear layers "
              f"quantized; loss {r['loss']:.4f}")
        if reference is not None and variant != "BFLOAT_16":
            def ratio(key, base, r=r):
                return (r[key] - r[base]) / (reference[key] - reference[base])

            print(f"{'':>23}  ratio to bfloat16: peak RSS {r['peak'] / reference['peak']:.2f}, above imports "
                  f"{ratio('peak', 'baseline'):.2f}, without mapped files above imports "
                  f"{ratio('peak_anon', 'baseline_anon'):.2f}")


if __name__ == "__main__":
    main()
