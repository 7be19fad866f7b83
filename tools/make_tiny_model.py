#!/usr/bin/env python3
"""Generate a tiny random-weight Qwen2 model directory that vLLM (CPU backend) can serve.

Only numpy + safetensors + tokenizers are used: no torch, no transformers, no network.
The output is deterministic for a given --seed/--dtype (byte-identical files), and the
command is idempotent: it does nothing when OUTPUT_DIR already holds the same model.

    make_tiny_model.py OUTPUT_DIR [--seed N] [--dtype bfloat16|float32] [--force]

Layout written (what vLLM / transformers read from a Hugging Face model dir):
    config.json              Qwen2ForCausalLM, hidden 256, 2 layers, 4 heads / 2 kv heads, head_dim 64
    generation_config.json   bos/eos/pad ids
    model.safetensors        exact Qwen2 tensor names and shapes (tied embeddings: no lm_head.weight)
    tokenizer.json           byte-level BPE trained on a built-in corpus (+ <|endoftext|>, <|im_start|>, <|im_end|>)
    tokenizer_config.json    ChatML chat_template (Qwen style), eos <|im_end|>, pad <|endoftext|>
    special_tokens_map.json
    tiny-model.json          stamp: generator version + parameters + sha256 of every file

Notes: vLLM's CPU attention supports head sizes 32..512 (not 16), hence head_dim 64.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from safetensors import TensorSpec, serialize_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

GENERATOR_VERSION = 1

ARCH = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
}
TARGET_VOCAB = 1536
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# Qwen2-Instruct's ChatML template.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_TEXT = """\
The quick brown fox jumps over the lazy dog. A tiny language model is served by vLLM on a CPU.
Ansible installs the runtime, writes a systemd unit and checks that the server answers on its port.
The OpenAI compatible API offers chat completions, completions, models, health and version endpoints.
Large language models predict the next token given the previous tokens; sampling picks one of them.
Hello! How are you today? I am fine, thank you. What is the weather like? It is sunny and warm.
Please write a short poem about the sea, the wind, the mountains and the stars in the night sky.
System administrators automate servers with playbooks, roles, inventories, variables and handlers.
Python is a programming language. def main(): return 0  # comments, numbers 0 1 2 3 4 5 6 7 8 9 10 42 100 2048
JSON looks like {"key": "value", "list": [1, 2, 3], "ok": true}. YAML looks like key: value.
user assistant system tool message content role name function arguments result error warning info debug
"""

_WORDS = (
    "the of and to in is that it for on with as was at by be this are from or have an they which one you "
    "had not but what all were when we there can more if out so said time about up into some could them "
    "other than then its only new first these two may any like now my over such our man me even most made "
    "after also did many before must through back years where much your way well down should because each "
    "just those people how too little state good very make world still own see men work long get here "
    "between both life being under never day same another know while last might us great old year off come "
    "since against go came right used take three model server token prompt request response latency "
    "throughput memory cache thread core socket kernel compile install package version release build test "
    "deploy service port host network file directory path user group mode owner template handler variable"
).split()


def build_corpus(seed: int) -> list[str]:
    """A few hundred KB of deterministic text: fixed paragraphs + seeded word salad."""
    rng = np.random.default_rng(seed)
    lines = _TEXT.splitlines()
    # English-ish words plus seeded pseudo-words (syllable soup) so BPE finds ~1.5k merges.
    onsets = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
              "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr"]
    nuclei = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "ng", "st", "ck"]
    pseudo = {
        "".join(rng.choice(onsets) + rng.choice(nuclei) + rng.choice(codas) for _ in range(int(rng.integers(1, 4))))
        for _ in range(1500)
    }
    words = np.array(_WORDS * 3 + sorted(pseudo))
    for _ in range(6000):
        n = int(rng.integers(4, 16))
        sentence = " ".join(words[rng.integers(0, len(words), n)])
        lines.append(sentence[0].upper() + sentence[1:] + rng.choice([".", "?", "!", ","]))
    return lines


def train_tokenizer(seed: int) -> Tokenizer:
    # Single-threaded training (read when the trainer runs): same merges on every machine.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TARGET_VOCAB,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(build_corpus(seed), trainer=trainer)
    return tok


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even."""
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    return ((bits + rounding) >> 16).astype(np.uint16)


def make_weights(vocab: int, seed: int) -> dict[str, np.ndarray]:
    """Exact Qwen2ForCausalLM tensor names/shapes (tie_word_embeddings: no lm_head.weight)."""
    rng = np.random.default_rng(seed)
    h, inter = ARCH["hidden_size"], ARCH["intermediate_size"]
    hd, nh, nkv = ARCH["head_dim"], ARCH["num_attention_heads"], ARCH["num_key_value_heads"]

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    w: dict[str, np.ndarray] = {"model.embed_tokens.weight": normal(vocab, h)}
    for i in range(ARCH["num_hidden_layers"]):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = np.ones(h, np.float32)
        w[p + "self_attn.q_proj.weight"] = normal(nh * hd, h)
        w[p + "self_attn.q_proj.bias"] = normal(nh * hd)
        w[p + "self_attn.k_proj.weight"] = normal(nkv * hd, h)
        w[p + "self_attn.k_proj.bias"] = normal(nkv * hd)
        w[p + "self_attn.v_proj.weight"] = normal(nkv * hd, h)
        w[p + "self_attn.v_proj.bias"] = normal(nkv * hd)
        w[p + "self_attn.o_proj.weight"] = normal(h, nh * hd)
        w[p + "post_attention_layernorm.weight"] = np.ones(h, np.float32)
        w[p + "mlp.gate_proj.weight"] = normal(inter, h)
        w[p + "mlp.up_proj.weight"] = normal(inter, h)
        w[p + "mlp.down_proj.weight"] = normal(h, inter)
    w["model.norm.weight"] = np.ones(h, np.float32)
    return w


def save_safetensors(weights: dict[str, np.ndarray], path: Path, dtype: str) -> None:
    keep = []
    specs = {}
    for name in sorted(weights):
        arr = bf16_bits(weights[name]) if dtype == "bfloat16" else np.ascontiguousarray(weights[name], np.float32)
        keep.append(arr)
        specs[name] = TensorSpec(dtype=dtype, shape=list(arr.shape), data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    serialize_file(specs, str(path), metadata={"format": "pt"})
    del keep


def dump_json(obj: object, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def generate(out: Path, seed: int, dtype: str) -> dict[str, str]:
    tok = train_tokenizer(seed)
    vocab = tok.get_vocab_size()
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    eot, im_end = ids["<|endoftext|>"], ids["<|im_end|>"]

    (out / "tokenizer.json").write_text(tok.to_str(pretty=True) + "\n", encoding="utf-8")
    dump_json(
        {
            "add_bos_token": False,
            "add_prefix_space": False,
            "added_tokens_decoder": {
                str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                         "single_word": False, "special": True}
                for t, i in ids.items()
            },
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "bos_token": None,
            "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>",
            "errors": "replace",
            "model_max_length": ARCH["max_position_embeddings"],
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "PreTrainedTokenizerFast",
            "unk_token": None,
        },
        out / "tokenizer_config.json",
    )
    dump_json(
        {"additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "eos_token": "<|im_end|>",
         "pad_token": "<|endoftext|>"},
        out / "special_tokens_map.json",
    )
    dump_json(
        {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "attention_dropout": 0.0,
            "bos_token_id": eot,
            "eos_token_id": im_end,
            "pad_token_id": eot,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "max_window_layers": ARCH["num_hidden_layers"],
            "sliding_window": None,
            "use_sliding_window": False,
            "tie_word_embeddings": True,
            "torch_dtype": dtype,
            "use_cache": True,
            "vocab_size": vocab,
            **ARCH,
        },
        out / "config.json",
    )
    dump_json(
        {"bos_token_id": eot, "eos_token_id": [im_end, eot], "pad_token_id": eot},
        out / "generation_config.json",
    )
    save_safetensors(make_weights(vocab, seed), out / "model.safetensors", dtype)
    for p in out.iterdir():
        p.chmod(0o644)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def stamp_params(seed: int, dtype: str) -> dict[str, object]:
    return {"generator": GENERATOR_VERSION, "seed": seed, "dtype": dtype, "arch": ARCH,
            "target_vocab": TARGET_VOCAB}


def up_to_date(out: Path, params: dict[str, object]) -> bool:
    stamp = out / "tiny-model.json"
    try:
        data = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if data.get("params") != params:
        return False
    files = data.get("files", {})
    return bool(files) and all(
        (out / name).is_file() and hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
        for name, digest in files.items()
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output_dir", type=Path)
    ap.add_argument("--seed", type=int, default=0, help="RNG seed for corpus and weights (default 0)")
    ap.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16",
                    help="weight dtype, also config.json torch_dtype (default bfloat16)")
    ap.add_argument("--force", action="store_true", help="regenerate even when up to date")
    args = ap.parse_args(argv)

    out: Path = args.output_dir.resolve()
    params = stamp_params(args.seed, args.dtype)
    if not args.force and up_to_date(out, params):
        print(f"tiny model is up to date: {out}")
        return 0

    # Build next to the target and swap in, so a half-written dir is never left behind.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = generate(tmp, args.seed, args.dtype)
        dump_json({"params": params, "files": files}, tmp / "tiny-model.json")
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    vocab = json.loads((out / "config.json").read_text())["vocab_size"]
    print(f"tiny model written: {out} (vocab {vocab}, {args.dtype}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
