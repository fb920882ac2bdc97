"""LoRA checks shared by the family tests: adapter deltas, the format round trip, diffusers loading the files."""
from __future__ import annotations

import torch


def randomise_lora_up(model, parts=None):
    """A few tiny steps barely move the output: larger up weights make the files' effect plain to compare."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for part in parts or model.adapters:
            for name, param in model[part].named_parameters():
                if "lora_B" in name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.1)


def random_lora_state(trainer):
    """The model's adapters with random weights, so that every module's delta is non-zero."""
    from modules.adapters import peft_adapters

    generator = torch.Generator().manual_seed(0)
    return {part: {k: torch.randn(v.shape, generator=generator)
                   for k, v in peft_adapters.adapter_state_dict(trainer.model[part]).items()}
            for part in trainer.model.adapters}


def lora_deltas(parts, alpha, rename=None):
    """module -> up @ down · alpha / rank (conv kernels flattened); `rename(part, module)` names a module."""
    out = {}
    for part, state in parts.items():
        for key, down in state.items():
            if key.endswith(".lora_A.weight"):
                module = key.removesuffix(".lora_A.weight")
                scale = float(state.get(f"{module}.alpha", alpha)) / down.shape[0]
                up = state[f"{module}.lora_B.weight"]
                name = rename(part, module) if rename else module
                out[f"{part}.{name}"] = up.flatten(1) @ down.flatten(1) * scale
    return out


def _assert_close(got, want, msg):
    torch.testing.assert_close(got, want, msg=msg)


def check_lora_formats_round_trip(trainer, parts, names, tmp_path=None, *, alpha=4.0, transformer_only=(),
                                  with_config=True, exact_keys=False, check=None, compare=_assert_close,
                                  deltas=lora_deltas):
    """Encodes `parts` in each format of `names` (format -> key prefixes the file holds, or whole keys with
    `exact_keys`), writes and reads each file back (decodes the tensors only without `tmp_path`) and compares
    every module's delta. Formats in `transformer_only` encode the transformer's adapters alone;
    `check(fmt, tensors)` adds a family's own checks. Returns the expected deltas."""
    from modules.formats import decode_lora, encode_lora, read_lora
    from modules.formats.safetensors_io import write_safetensors

    keymap = trainer.family.keymap
    config = dict(trainer.model["transformer"].config) if with_config else None
    expected = deltas(parts, alpha)
    for fmt, keys in names.items():
        source = {"transformer": parts["transformer"]} if fmt in transformer_only else parts
        tensors = encode_lora(source, alpha, keymap, fmt, denoiser_config=config)
        for key in keys:
            if exact_keys:
                assert key in tensors, (fmt, key)
            else:
                assert any(k.startswith(key) for k in tensors), (fmt, key)
        if check is not None:
            check(fmt, tensors)
        decoded = decode_lora(tensors, keymap, denoiser_config=config)
        if tmp_path is None:
            read = decoded
        else:
            path = tmp_path / f"{fmt}.safetensors"
            write_safetensors(path, tensors)
            read = read_lora(path, keymap, denoiser_config=config)
        got = deltas(read.parts, alpha)
        want = {k: v for k, v in expected.items() if k.split(".")[0] in source}
        assert set(got) == set(want), fmt
        for module, delta in want.items():
            compare(got[module], delta, f"{fmt} {module}")
        assert decoded.parts.keys() == read.parts.keys()
    return expected


def sample_of(transformer, inputs):
    return transformer(**inputs).sample


def base_and_trained_outputs(pipe, trainer, inputs, run=sample_of):
    """The pipeline's transformer output and the trained one's on `inputs`: they differ."""
    with torch.no_grad():
        base = run(pipe.transformer, inputs)
        trainer.method.set_training(False)
        ours = run(trainer.model["transformer"], inputs)
    assert (ours - base).abs().max() > 1e-3
    return base, ours


def check_pipeline_loads_lora_files(pipe, paths, inputs, ours, base=None, run=sample_of, base_after_each=False):
    """With each file loaded, diffusers' transformer computes what the trained one does; unloaded, the base
    output again (a file that changes nothing would pass only with a dead adapter)."""
    for path in paths:
        pipe.load_lora_weights(str(path))
        with torch.no_grad():
            torch.testing.assert_close(run(pipe.transformer, inputs), ours, rtol=1e-4, atol=1e-5, msg=str(path))
        pipe.unload_lora_weights()
        if base_after_each:
            with torch.no_grad():
                torch.testing.assert_close(run(pipe.transformer, inputs), base)
    if base is not None and not base_after_each:
        with torch.no_grad():
            torch.testing.assert_close(run(pipe.transformer, inputs), base)


def check_original_final_modulation_swapped(parts):
    """A `check` for the round trip: in ORIGINAL_LORA files the native final modulation holds (shift, scale),
    the halves of the diffusers `norm_out.linear` (scale, shift) swapped."""
    def check(fmt, tensors):
        if fmt == "ORIGINAL_LORA":
            stored = tensors["final_layer.adaLN_modulation.1.lora_B.weight"]
            up = parts["transformer"]["norm_out.linear.lora_B.weight"]
            half = up.shape[0] // 2
            assert torch.equal(stored[:half], up[half:]) and torch.equal(stored[half:], up[:half])

    return check


def load_peft_part(module, tensors, part):
    """The `part.`-named adapters of a diffusers LoRA file (peft names, alpha folded into lora_B) onto
    `module`, with peft."""
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict

    state = {k.removeprefix(f"{part}."): v for k, v in tensors.items() if k.startswith(f"{part}.")}
    modules = sorted({k.rsplit(".lora_", 1)[0] for k in state})
    rank = state[f"{modules[0]}.lora_A.weight"].shape[0]
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=rank, target_modules=modules), module)
    result = set_peft_model_state_dict(module, state)
    assert not result.unexpected_keys


def last_hidden_state(encoder, ids):
    return encoder(ids).last_hidden_state
