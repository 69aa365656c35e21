"""Conversion of synthetic:tiny: every variant converts, is what its name says, and is cached."""
from __future__ import annotations

import json

import numpy as np
import pytest

from harness.convert import census, convert
from harness.convert.cache import conversion_key, export_key
from harness.convert.pipeline import check_quantized
from harness.files import sha256_file
from harness.model import sources as models
from harness.model.prompts import calibration_set
from harness.errors import ConversionError, UserError
from helpers import TINY_MAX_LENGTH, ALL_VARIANTS  # noqa: F401


def test_every_variant_converts_with_a_report(tiny_models):
    assert set(tiny_models) == set(ALL_VARIANTS)
    for variant, c in tiny_models.items():
        r = json.loads((c.path.parent / "conversion.json").read_text())
        assert r["variant"] == variant and r["max_length"] == TINY_MAX_LENGTH
        assert r["size_bytes"] == c.path.stat().st_size
        assert r["sha256"] == sha256_file(c.path)
        assert r["synthetic"] is True
        assert r["libraries"]["tensorflow"] == "2.18.1"
        assert r["census"]["op_counts"]["builtin"] > 0
        assert r["census"]["op_counts"]["flex"] > 0       # the tokenizer graph needs Flex
        assert r["convert_wall_s"] > 0 and r["convert_peak_rss_mb"] > 100


def test_variants_are_really_quantized(tiny_models):
    share = {v: c.report["weight_share"] for v, c in tiny_models.items()}
    assert share["fp32"] == {"float32": 1.0}
    assert share["fp16"].get("float16", 0) == 1.0
    assert share["dynamic"].get("int8", 0) > 0.25
    assert share["int8"].get("int8", 0) > 0.9
    sizes = {v: c.size_bytes for v, c in tiny_models.items()}
    assert sizes["dynamic"] < sizes["fp32"] and sizes["fp16"] < sizes["fp32"] and sizes["int8"] < sizes["fp32"]
    # Full integer: what stayed float is reported, with the quantize/dequantize ops around it.
    cen = tiny_models["int8"].report["census"]
    assert cen["quantize_ops"] > 0 and cen["dequantize_ops"] > 0
    assert cen["float_ops"], "int8 must list the ops that stayed float"


def test_census_reads_the_file_not_the_name(tiny_models):
    cen = census.census(tiny_models["dynamic"].path)
    assert cen.weight_bytes_by_dtype.get("int8", 0) > 0
    assert "serving_default" in cen.signatures


def test_a_variant_without_effect_is_refused():
    fake = census.Census(weight_bytes_by_dtype={"float32": 1_000_000})
    for variant in ("dynamic", "fp16", "int8"):
        with pytest.raises(ConversionError, match="quantization had no effect"):
            check_quantized(variant, fake)
    check_quantized("fp32", fake)


def test_repeat_conversion_is_a_cache_hit(tiny_models, harness_cache):
    source = models.resolve("synthetic:tiny")
    again = convert(source, ALL_VARIANTS, TINY_MAX_LENGTH, cache=harness_cache,
                            progress=lambda msg: pytest.fail(f"converted again: {msg}"))
    assert all(c.cache_hit for c in again)
    assert {c.variant: c.path for c in again} == {v: c.path for v, c in tiny_models.items()}


def test_cache_key_depends_on_inputs():
    s = models.resolve("synthetic:tiny")
    keys = {conversion_key(s, v, "oneshot", L) for v in ALL_VARIANTS for L in (32, 64)}
    assert len(keys) == 8
    assert conversion_key(s, "fp32", "oneshot", 32) != conversion_key(
        models.resolve("synthetic:gpt2-base"), "fp32", "oneshot", 32)


def test_generation_starts_from_the_whole_prompt(tiny_models):
    """The prompt must be fed as bytes: a str array runs but generates from its first letter."""
    import tensorflow_text as tf_text
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    it = InterpreterWithCustomOps(model_path=str(tiny_models["fp32"].path),
                                  custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS)
    out = it.get_signature_runner("serving_default")(prompt=np.array("the cat sat".encode()))
    text = out["text"].item().decode("utf-8", "replace")
    assert "the cat sat" in text
    assert int(out["token_count"]) == TINY_MAX_LENGTH
    assert 3 < int(out["prompt_token_count"]) < TINY_MAX_LENGTH


def _generate(path, prompt: str) -> bytes:
    import tensorflow_text as tf_text
    from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

    it = InterpreterWithCustomOps(model_path=str(path),
                                  custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS)
    return it.get_signature_runner("serving_default")(prompt=np.array(prompt.encode()))["text"].item()


# fp16 takes dynamic's path exactly (quantized inside the MLIR conversion, then "finish"), so
# these three cover every path of harness/convert/staged.py: none, in-converter, calibrated.
@pytest.mark.parametrize("variant", ["fp32", "dynamic", "int8"])
def test_staged_conversion_is_the_converters_own(variant, tiny_models, harness_cache, tmp_path):
    """Each conversion runs in steps — convert, (int8: calibrate), finish — each in a fresh
    process on GPT-2 base to stay under 4 GB (one shared process for a model this small); the
    model must be what one ``converter.convert()`` makes."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SavedModel's tokenizer ops)
    from tensorflow.lite.tools import flatbuffer_utils

    from harness.convert import tied, variants
    from harness.convert.exports import oneshot

    staged = tiny_models[variant]
    stages = [s["stage"] for s in staged.report["convert_stages"]]
    assert stages == (["convert", "calibrate", "finish"] if variant == "int8" else ["convert", "finish"])
    assert staged.report["convert_peak_rss_mb"] == max(s["peak_rss_mb"] for s in staged.report["convert_stages"])
    assert sorted(p.name for p in staged.path.parent.iterdir() if p.suffix != ".log") == [
        "conversion.json", "model.tflite"]   # no intermediates left

    source = models.resolve("synthetic:tiny")
    integer = variants.get(variant).integer_ops   # int8 has its own export (exports/masking.py)
    saved = harness_cache / "exports" / export_key(source, "oneshot", TINY_MAX_LENGTH,
                                                    quantizable_mask=integer) / "saved_model"
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    # The same calibration data as the staged worker (the export's lengthened prompts).
    variants.get(variant).configure(converter, "oneshot", oneshot.representative_dataset(calibration_set(), saved))
    one = tmp_path / "one-process.tflite"
    # ... plus the harness's own last step: the tied embedding stored once (harness/convert/tied.py).
    one.write_bytes(tied.tie_embeddings(converter.convert())[0])

    assert one.stat().st_size == staged.size_bytes
    assert census.census(one).to_dict() == census.census(staged.path).to_dict()
    a, b = flatbuffer_utils.read_model(str(one)), flatbuffer_utils.read_model(str(staged.path))
    meta = [[(m.name, bytes(x.buffers[m.buffer].data)) for m in x.metadata] for x in (a, b)]
    assert meta[0] == meta[1] and any(name == b"CONVERSION_METADATA" for name, _ in meta[0])
    for prompt in (calibration_set()[0], "a prompt the calibration never saw"):
        assert _generate(one, prompt) == _generate(staged.path, prompt)


@pytest.mark.parametrize("spec,message", [
    ("synthetic:huge", "unknown synthetic model"),
    ("not-a-model", "unknown model"),
    ("./no/such/dir", "no such preset directory"),
])
def test_bad_model_names(spec, message):
    with pytest.raises(UserError, match=message):
        models.resolve(spec)


def test_max_length_beyond_the_model_is_a_user_error(harness_cache):
    with pytest.raises(UserError, match="exceeds"):
        convert(models.resolve("synthetic:tiny"), ["fp32"], 100_000, cache=harness_cache)


def test_preset_without_network_is_one_clear_line(monkeypatch):
    """from_preset is really called; with no network it must end in a UserError naming alternatives."""
    monkeypatch.setenv("KAGGLE_USERNAME", "nobody")
    monkeypatch.setenv("KAGGLE_KEY", "0")
    with pytest.raises(UserError) as e:
        models.load(models.resolve("gpt2_base_en"))
    assert "synthetic:tiny" in str(e.value) and "\n" not in str(e.value)


def test_gpt2_base_uses_the_real_gpt2_tokenizer():
    vocab, merges = models.gpt2_vocabulary()
    assert len(vocab) == 50257 and len(merges) == 50000
    assert vocab["<|endoftext|>"] == 50256


def test_a_local_preset_directory_is_a_model_source(tmp_path, harness_cache):
    """Anything from_preset reads from disk: here a preset saved by keras-hub itself."""
    preset = tmp_path / "my-gpt2"
    models.load(models.resolve("synthetic:tiny")).save_to_preset(str(preset))
    source = models.resolve(str(preset))
    assert source.kind == "directory" and source.identity.startswith("dir:") and not source.synthetic
    # prefill_decode: the source is what is tested, and its export takes a third of the one-shot's
    (c,) = convert(source, ["dynamic"], 16, export="prefill_decode", cache=harness_cache)
    assert c.report["model"]["kind"] == "directory" and c.report["synthetic"] is False
    assert c.report["weight_share"].get("int8", 0) > 0.25
