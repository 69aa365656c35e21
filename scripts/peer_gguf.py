"""Write a keras-hub GPT-2 as a GGUF file for llama.cpp (the peer of ``scripts/bench_peer.py``).

The same weights, tensor for tensor, in llama.cpp's ``gpt2`` layout: keras-hub's separate
query/key/value kernels [hidden, heads, head_dim] become one ``attn_qkv`` matrix [3·hidden,
hidden] (llama.cpp splits it back in that order), every Dense kernel [in, out] is stored
as [out, in], the tied token embedding is stored once (llama.cpp's ``gpt2`` falls back to
``token_embd`` when ``output.weight`` is absent). The tokenizer metadata is the model's
own vocabulary and merges; the benchmark feeds token ids, so the peer never tokenizes.
Needs the optional ``gguf`` package (``pip install -e '.[peer]'``).
"""
from __future__ import annotations

from pathlib import Path


def _weights(backbone) -> dict:
    return {w.path: w.numpy() for w in backbone.weights}


def gpt2_tensors(backbone) -> list[tuple[str, "object"]]:
    """(GGUF name, float32 array) for every tensor of a keras-hub GPT2Backbone."""
    import numpy as np

    w = _weights(backbone)
    hidden = backbone.hidden_dim
    out = [("token_embd.weight", w["token_embedding/embeddings"]),
           ("position_embd.weight", w["position_embedding/embeddings"])]
    for i in range(backbone.num_layers):
        p = f"transformer_layer_{i}/"
        qkv_w = [w[p + f"self_attention/{k}/kernel"].reshape(hidden, hidden).T for k in ("query", "key", "value")]
        qkv_b = [w[p + f"self_attention/{k}/bias"].reshape(hidden) for k in ("query", "key", "value")]
        b = f"blk.{i}."
        out += [
            (b + "attn_norm.weight", w[p + "self_attention_layer_norm/gamma"]),
            (b + "attn_norm.bias", w[p + "self_attention_layer_norm/beta"]),
            (b + "attn_qkv.weight", np.concatenate(qkv_w, axis=0)),
            (b + "attn_qkv.bias", np.concatenate(qkv_b)),
            (b + "attn_output.weight", w[p + "self_attention/attention_output/kernel"].reshape(hidden, hidden).T),
            (b + "attn_output.bias", w[p + "self_attention/attention_output/bias"]),
            (b + "ffn_norm.weight", w[p + "feedforward_layer_norm/gamma"]),
            (b + "ffn_norm.bias", w[p + "feedforward_layer_norm/beta"]),
            (b + "ffn_up.weight", w[p + "feedforward_intermediate_dense/kernel"].T),
            (b + "ffn_up.bias", w[p + "feedforward_intermediate_dense/bias"]),
            (b + "ffn_down.weight", w[p + "feedforward_output_dense/kernel"].T),
            (b + "ffn_down.bias", w[p + "feedforward_output_dense/bias"]),
        ]
    out += [("output_norm.weight", w["layer_norm/gamma"]), ("output_norm.bias", w["layer_norm/beta"])]
    return [(name, np.ascontiguousarray(a, np.float32)) for name, a in out]


def write_gpt2(causal_lm, vocabulary: dict[str, int], merges: list[str], path: Path, name: str) -> Path:
    """Write ``causal_lm``'s backbone and tokenizer as an f32 GGUF file at ``path``."""
    import gguf

    backbone = causal_lm.backbone
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_name(name)
    writer.add_context_length(int(backbone.max_sequence_length))
    writer.add_embedding_length(int(backbone.hidden_dim))
    writer.add_feed_forward_length(int(backbone.intermediate_dim))
    writer.add_block_count(int(backbone.num_layers))
    writer.add_head_count(int(backbone.num_heads))
    writer.add_layer_norm_eps(1e-5)            # keras-hub's GPT-2 layer norms
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    tokens = [t for t, _ in sorted(vocabulary.items(), key=lambda kv: kv[1])]
    end = vocabulary.get("<|endoftext|>", len(tokens) - 1)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if i == end else gguf.TokenType.NORMAL
                            for i in range(len(tokens))])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(end)
    writer.add_eos_token_id(end)
    for tname, array in gpt2_tensors(backbone):
        writer.add_tensor(tname, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
