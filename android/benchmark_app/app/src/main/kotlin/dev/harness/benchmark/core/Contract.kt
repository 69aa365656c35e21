package dev.harness.benchmark.core

/**
 * The names of the app contract (docs/app-contract.md, version 3).
 *
 * tests/test_contract_examples.py parses these `const val` lines and compares them with
 * harness/contract.py, so keep one constant per line in the form `const val NAME = value`.
 */
object Contract {
    const val CONTRACT_VERSION = 3
    const val APP_PACKAGE = "dev.harness.benchmark"
    const val APP_ACTIVITY = ".BenchmarkActivity"
    const val LOG_TAG = "HarnessBench"
    const val EXTRA_SPEC_PATH = "spec_path"
    const val EXTRA_RUN_ID = "run_id"

    /** Subdirectory of Context.getExternalFilesDir(null): /sdcard/Android/data/<package>/files/results. */
    const val RESULT_SUBDIR = "results"
    const val RUN_ID_PATTERN = "^[A-Za-z0-9_.-]{1,96}$"
    const val SHA256_PATTERN = "^[0-9a-f]{64}$"

    const val EXPORT_ONESHOT = "oneshot"
    const val EXPORT_PREFILL_DECODE = "prefill_decode"
    const val SIGNATURE_ONESHOT = "serving_default"
    const val INPUT_PROMPT = "prompt"
    const val OUTPUT_TEXT = "text"
    const val OUTPUT_TOKEN_COUNT = "token_count"
    const val OUTPUT_PROMPT_TOKEN_COUNT = "prompt_token_count"

    /** The prefill/decode export (docs/generation-metrics.md): two signatures, token ids in, logits out. */
    const val SIGNATURE_PREFILL = "prefill"
    const val SIGNATURE_DECODE = "decode"
    const val INPUT_TOKEN_IDS = "token_ids"
    const val INPUT_PROMPT_LENGTH = "prompt_length"
    const val INPUT_TOKEN_ID = "token_id"
    const val INPUT_INDEX = "index"
    const val TENSOR_CACHE = "cache"
    /** decode's output from export code version 10: this position's keys and values ([CacheRows]). */
    const val OUTPUT_CACHE_ROWS = "cache_rows"
    const val OUTPUT_LOGITS = "logits"

    /** load_ms is measured right after the model file was read whole (the sha256 check). */
    const val LOAD_KIND_WARM = "warm"

    /** PowerManager.getThermalHeadroom answers NaN when asked much faster than once a second. */
    const val HEADROOM_MIN_INTERVAL_MS = 1000

    const val RUNTIME = "android-tflite"
    /** TFLite's CPU kernels with the XNNPACK delegate: the runtime's default. */
    const val DELEGATE_CPU = "cpu"

    /** TFLite's built-in kernels only (Interpreter.Options.setUseXNNPACK(false)): one copy of the weights. */
    const val DELEGATE_CPU_BUILTIN = "cpu-builtin"

    const val PHASE_WARMUP = "warmup"
    const val PHASE_MEASURED = "measured"
    const val STATUS_OK = "ok"
    const val STATUS_ERROR = "error"

    private val RUN_ID_RE = Regex(RUN_ID_PATTERN)

    fun isValidRunId(runId: String?): Boolean = runId != null && RUN_ID_RE.matches(runId)
}
