"""Teacher-forced agreement between the float32 numpy model and llama.cpp on the same Q4_1 GGUF.

llama.cpp does not compute in float32 throughout: on CPU it quantizes the activations to 8 bits before every
Q4_1/Q8_0 matrix product, keeps the KV cache in float16, and which kernels it runs (AVX2, AVX-512, AMX, weight
repacking) depends on how it was compiled and on the CPU. Our log-probabilities differ from its by a few tenths,
and builds differ from each other by less, so wherever the top two tokens are nearly tied the greedy choice
depends on the build, and free-running greedy sequences then diverge: comparing them would test the build.

So both models are fed the same fixed token sequences (a chat prompt, then a fixed reply, built the same on
every machine) and compared position by position, on quantities a build cannot move much:

* the log-softmax of the logits correlates > 0.99 with llama.cpp's over the whole vocabulary, and over
  llama.cpp's 10 most likely tokens no log-probability is more than ``LOGPROB_TOLERANCE`` from its;
* wherever llama.cpp's best token beats its second by at least ``CLEAR_MARGIN`` (in log-probability), our
  argmax is the same token; elsewhere (near-ties) our argmax is among llama.cpp's top 3;
* at least a third of the positions are clear, so the check above is not vacuous.

Free-running greedy agreement is printed in the terminal summary for information, not asserted. llama.cpp is
driven token by token (``eval`` + the last logits), so no sampler (repeat penalty, top-k, temperature) is
involved.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np

from llama_numpy import Model, chat_prompt_tokens

#: (user message, the reply fed after it). The replies are SmolLM2's own greedy answers, frozen as text so that
#: every machine feeds the same tokens whatever its build would pick at the near-ties.
CASES: List[Tuple[str, str]] = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Write a haiku about the sea.",
     "The waves of the sea, a silent beauty,\nA gentle lapping of the shore,\nA reminder of the"),
    ("Give me a tip for learning Python.",
     "Python is a versatile language with numerous libraries and tools. Here's a tip:\n\nWhen it comes to learning"
     " Python"),
]
#: A position is clear when llama.cpp's best token beats its second by this much (log-probability). One
#: log-probability differs between the two models by at most about 0.5 (and between llama.cpp builds by less),
#: so the order of two tokens this far apart is the same whoever computes it. (Seen: every disagreement is at a
#: margin below 0.25; about half of the positions are clear.)
CLEAR_MARGIN = 1.0
#: Largest allowed difference of one log-probability among llama.cpp's 10 most likely tokens (seen: <= 0.46).
LOGPROB_TOLERANCE = 1.0
FREE_RUNNING_TOKENS = 16


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def llama_cpp_rows(llama, prompt: List[int], fed: List[int]) -> List[np.ndarray]:
    """llama.cpp's logits predicting each token of ``fed``, given the prompt and the tokens of ``fed`` before it."""
    vocab = llama.n_vocab()
    llama.reset()
    llama.eval(prompt)
    rows: List[np.ndarray] = []
    for token in fed:
        rows.append(np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(vocab,)).copy())
        llama.eval([token])
    return rows


def llama_cpp_greedy(llama, prompt: List[int], n: int, stop: int) -> List[int]:
    vocab = llama.n_vocab()
    llama.reset()
    llama.eval(prompt)
    out: List[int] = []
    for _ in range(n):
        token = int(np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1), shape=(vocab,)).argmax())
        if token == stop:
            break
        out.append(token)
        llama.eval([token])
    return out


def test_teacher_forced_agreement_with_llama_cpp(model: Model, tokenizer, llama_cpp_model, report) -> None:
    llama = llama_cpp_model
    eos = tokenizer.token_eos()
    positions = clear = clear_agree = agree = 0
    worst_diff, worst_corr, widest_disagreement = 0.0, 1.0, 0.0
    for text, reply in CASES:
        prompt = chat_prompt_tokens(tokenizer, text)
        fed = list(tokenizer.tokenize(reply.encode("utf-8"), add_bos=False, special=False)) + [eos]
        ref_rows = llama_cpp_rows(llama, prompt, fed)
        seq = np.array(prompt + fed[:-1])
        h = model.run_layers(model.embed(seq), 0, model.n_layers, model.new_cache(), 0)
        our_rows = model.head(h[len(prompt) - 1:])
        assert len(our_rows) == len(ref_rows) == len(fed)
        case_agree = 0
        for i, (ours_row, ref_row) in enumerate(zip(our_rows, ref_rows)):
            where = f"{text!r}, position {i} (fed {tokenizer.detokenize(fed[:i]).decode('utf-8', 'replace')!r})"
            ours_lp, ref_lp = log_softmax(ours_row), log_softmax(ref_row)
            corr = float(np.corrcoef(ours_lp, ref_lp)[0, 1])
            worst_corr = min(worst_corr, corr)
            assert corr > 0.99, f"{where}: log-probabilities correlate only {corr:.4f}"
            ranked = np.argsort(-ref_lp)
            diff = float(np.abs(ours_lp[ranked[:10]] - ref_lp[ranked[:10]]).max())
            worst_diff = max(worst_diff, diff)
            assert diff <= LOGPROB_TOLERANCE, f"{where}: a top-10 log-probability differs by {diff:.3f}"
            mine, best = int(ours_row.argmax()), int(ranked[0])
            margin = float(ref_lp[ranked[0]] - ref_lp[ranked[1]])
            positions += 1
            if mine == best:
                case_agree += 1
            else:
                widest_disagreement = max(widest_disagreement, margin)
            if margin >= CLEAR_MARGIN:
                clear += 1
                assert mine == best, (f"{where}: llama.cpp's best token {best} leads by {margin:.2f}, "
                                      f"yet we chose {mine}")
                clear_agree += 1
            else:
                assert mine in ranked[:3], f"{where}: we chose {mine}, not in llama.cpp's top 3 {ranked[:3].tolist()}"
        agree += case_agree
        # For information: where free-running greedy decoding first departs (build-dependent near-ties).
        ours_free = model.generate(prompt, FREE_RUNNING_TOKENS, [eos])
        ref_free = llama_cpp_greedy(llama, prompt, FREE_RUNNING_TOKENS, eos)
        prefix = next((k for k, (a, b) in enumerate(zip(ours_free, ref_free)) if a != b), min(len(ours_free), len(ref_free)))
        report.append(
            f"llama.cpp agreement {text!r}: teacher-forced argmax {case_agree}/{len(fed)}; free-running identical "
            f"prefix {prefix}/{max(len(ours_free), len(ref_free))} (not asserted)"
            f"\n    ours:      {tokenizer.detokenize(ours_free).decode('utf-8', 'replace')!r}"
            f"\n    llama.cpp: {tokenizer.detokenize(ref_free).decode('utf-8', 'replace')!r}"
        )
    report.append(
        f"llama.cpp agreement overall: teacher-forced argmax {agree}/{positions}, at the {clear} clear positions "
        f"(margin >= {CLEAR_MARGIN}) {clear_agree}/{clear}; widest llama.cpp margin at a disagreement "
        f"{widest_disagreement:.3f}; largest top-10 log-probability difference {worst_diff:.3f}; lowest "
        f"correlation {worst_corr:.4f}"
    )
    assert clear * 3 >= positions, f"only {clear} of {positions} positions are clear: the check says too little"
