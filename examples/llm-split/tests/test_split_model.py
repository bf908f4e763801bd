"""The numpy model run as contiguous layer ranges: split == unsplit, hidden states at split points, KV cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from llama_numpy import KVCache, Model, chat_prompt, chat_prompt_tokens, decode_tensor, encode_tensor

PROMPTS = ["Write a haiku about the sea.", "What is the capital of France?"]


def test_metadata_and_layout(model: Model) -> None:
    c = model.config
    assert (c.arch, c.n_layers, c.d_model, c.n_heads, c.n_kv_heads, c.head_dim) == ("llama", 30, 576, 9, 3, 64)
    assert (c.ffn_dim, c.vocab_size, c.context_length, c.rope_dim) == (1536, 49152, 8192, 64)
    assert c.rope_base == 100000.0 and abs(c.rms_eps - 1e-5) < 1e-9 and c.rope_type == "norm"
    # GGUF [576, 49152] -> numpy (vocab, d); weights are (out, in); no output.weight -> tied embeddings
    assert model.token_embd.shape == (49152, 576) and model.token_embd.dtype == np.float32
    assert model.tied_embeddings and model.output is model.token_embd
    layer = model.layers[0]
    assert layer.wqkv.shape == (576 + 2 * 192, 576) and layer.wo.shape == (576, 576)
    assert layer.w_gate_up.shape == (2 * 1536, 576) and layer.w_down.shape == (576, 1536)


def test_chat_template_from_gguf_metadata(model: Model, tokenizer) -> None:
    text = chat_prompt(tokenizer, "Hi there")
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokenizer.metadata.get("tokenizer.chat_template") == model.config.chat_template
    tokens = chat_prompt_tokens(tokenizer, "Hi there")
    assert tokens[0] == 1 and tokens.count(2) == 2  # <|im_start|>, <|im_end|> parsed as special tokens
    assert tokenizer.token_eos() == 2


@pytest.mark.parametrize("text", PROMPTS)
def test_split_equals_unsplit(model: Model, tokenizer, text: str, report) -> None:
    prompt = chat_prompt_tokens(tokenizer, text)
    eos: list = []  # no stop token: always 16 steps (the France reply ends with <|im_end|> after 7)
    stats: dict = {}
    whole = model.generate(prompt, 16, eos, stats=stats)
    two = model.generate(prompt, 16, eos, split_points=[15])
    three = model.generate(prompt, 16, eos, split_points=[10, 20], wire=True)  # hidden states through AIOST1
    assert len(whole) == 16
    assert whole == two == three
    report.append(
        f"unsplit generation {text!r}: prompt {len(prompt)} tok, prefill {stats['prefill_s']:.2f} s, "
        f"decode {stats['decode_tok_s']:.1f} tok/s; 2-way and 3-way splits identical"
    )


def test_hidden_states_at_split_points(model: Model, tokenizer) -> None:
    prompt = np.array(chat_prompt_tokens(tokenizer, PROMPTS[0]))
    n = len(prompt)
    full = model.new_cache()
    a, b, c = model.new_cache(0, 10), model.new_cache(10, 20), model.new_cache(20, 30)
    fine = [model.new_cache(0, 5), model.new_cache(5, 10)]
    nxt = np.array([504])
    for tokens, pos in ((prompt, 0), (nxt, n)):  # prefill, then one decode step
        h0 = model.embed(tokens)
        h_full = model.run_layers(h0, 0, 30, full, pos)
        h10 = model.run_layers(h0, 0, 10, a, pos)
        h10_fine = model.run_layers(model.run_layers(h0, 0, 5, fine[0], pos), 5, 10, fine[1], pos)
        np.testing.assert_allclose(h10, h10_fine, atol=1e-5, rtol=0)
        h20 = model.run_layers(decode_tensor(encode_tensor(h10)), 10, 20, b, pos)
        h30 = model.run_layers(decode_tensor(encode_tensor(h20)), 20, 30, c, pos)
        np.testing.assert_allclose(h30, h_full, atol=1e-5, rtol=0)
        assert h10.dtype == np.float32 and h10.shape == (len(tokens), 576)
    assert full.length == a.length == b.length == c.length == n + 1
    assert not np.shares_memory(h0, h10)  # run_layers does not modify its input


def test_kv_cache_truncate_and_reprefill(model: Model, tokenizer) -> None:
    prompt = np.array(chat_prompt_tokens(tokenizer, PROMPTS[1]))
    n, k = len(prompt), 4
    caches = [model.new_cache(0, 12), model.new_cache(12, 30)]

    def forward(tokens: np.ndarray, pos: int) -> np.ndarray:
        h = model.embed(tokens)
        for cache in caches:
            h = model.run_layers(h, cache.start, cache.end, cache, pos)
        return model.head(h)

    logits = forward(prompt, 0)
    assert logits.shape == (n, 49152)
    assert all(cache.length == n for cache in caches)
    held = caches[0].nbytes
    assert held >= 12 * 2 * 3 * n * 64 * 4
    for cache in caches:
        cache.truncate(n - k)
        assert cache.length == n - k
    assert caches[0].nbytes == held  # truncate keeps the allocation
    again = forward(prompt[n - k :], n - k)
    np.testing.assert_allclose(again, logits[n - k :], atol=2e-4, rtol=0)
    assert (again.argmax(-1) == logits[n - k :].argmax(-1)).all()
    # decoding continues identically after the re-prefill
    step = forward(np.array([int(logits[-1].argmax())]), n)
    fresh = [model.new_cache(0, 12), model.new_cache(12, 30)]
    caches[:] = fresh
    forward(prompt, 0)
    step_fresh = forward(np.array([int(logits[-1].argmax())]), n)
    np.testing.assert_allclose(step, step_fresh, atol=2e-4, rtol=0)


def test_run_layers_rejects_misuse(model: Model) -> None:
    h = model.embed(np.array([1, 2, 3]))
    cache = model.new_cache(0, 10)
    with pytest.raises(ValueError, match="cache holds 0 positions for layer 0 but position=5"):
        model.run_layers(h, 0, 10, cache, 5)
    with pytest.raises(ValueError, match=r"cache covers layers \[0, 10\), not \[0, 11\)"):
        model.run_layers(h, 0, 11, cache, 0)
    with pytest.raises(ValueError, match="bad layer range"):
        model.run_layers(h, 20, 31, model.new_cache(20, 30), 0)
    with pytest.raises(ValueError, match="hidden must be"):
        model.run_layers(h[:, :10], 0, 10, cache, 0)
    with pytest.raises(ValueError, match="token id out of range"):
        model.embed(np.array([49152]))
    with pytest.raises(ValueError, match="strictly increasing"):
        model.generate([1, 2], 1, [], split_points=[20, 10])
    with pytest.raises(ValueError, match="KV cache full"):
        KVCache(0, 1, 3, 64, max_length=2).append(0, np.zeros((3, 3, 64), np.float32), np.zeros((3, 3, 64), np.float32))
    # a cache may cover more layers than one call runs; its length counts positions filled in all of them
    model.run_layers(h, 0, 4, cache, 0)
    assert cache.layer_length(0) == 3 and cache.layer_length(9) == 0 and cache.length == 0
    model.run_layers(h, 4, 10, cache, 0)
    assert cache.length == 3


def test_neox_rotation_is_wrong_for_this_gguf(model: Model, tokenizer, llama_cpp_model) -> None:
    llama = llama_cpp_model
    """The llama GGUF's Q/K rows are permuted for llama.cpp's normal (adjacent-pair) RoPE."""
    prompt = chat_prompt_tokens(tokenizer, PROMPTS[1])
    llama.reset()
    llama.eval(prompt)
    ref = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(model.config.vocab_size,)).copy()
    corr = {}
    for rope in ("norm", "neox"):
        m = Model(dataclasses.replace(model.config, rope_type=rope), model.token_embd, model.layers,
                  model.output_norm)
        logits = m.head(m.run_layers(m.embed(np.array(prompt)), 0, 30, m.new_cache(), 0))[-1]
        corr[rope] = float(np.corrcoef(logits, ref)[0, 1])
    assert corr["norm"] > 0.99 > 0.9 > corr["neox"], corr
