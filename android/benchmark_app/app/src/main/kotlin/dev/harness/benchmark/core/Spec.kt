package dev.harness.benchmark.core

import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject
import org.json.JSONTokener
import java.math.BigDecimal
import java.math.BigInteger

/** A spec that does not follow harness/data/contract/spec.schema.json; the message is one line. */
class SpecException(message: String) : Exception(message)

/** The host's request (docs/app-contract.md section 2), after validation. */
data class Spec(
    val contractVersion: Int,
    val runId: String,
    val modelPath: String,
    val modelSha256: String,
    val export: String,
    val prompts: List<String>,
    val promptTokenIds: List<List<Long>>?,
    val maxLength: Int,
    val contextWindowWords: Int?,
    val warmupRuns: Int,
    val measuredRuns: Int,
    val threads: Int,
    val delegate: String
)

/**
 * Parses and validates a spec the way spec.schema.json (plus harness.contract.validate_spec) does:
 * the contract version first, then required and unknown fields, then each field's type and range.
 * Types are strict: "5" is not an integer and true is not a number (org.json's getInt would coerce).
 */
object SpecParser {
    val REQUIRED: List<String> = listOf(
        "contract_version", "run_id", "model_path", "model_sha256", "export",
        "prompts", "max_length", "context_window_words", "warmup_runs",
        "measured_runs", "threads", "delegate"
    )
    val OPTIONAL: List<String> = listOf("prompt_token_ids")

    private val RUN_ID_RE = Regex(Contract.RUN_ID_PATTERN)
    private val SHA256_RE = Regex(Contract.SHA256_PATTERN)
    private val EXPORTS = listOf(Contract.EXPORT_ONESHOT, Contract.EXPORT_PREFILL_DECODE)
    private val DELEGATES = listOf(Contract.DELEGATE_CPU, Contract.DELEGATE_CPU_BUILTIN)

    fun parse(text: String): Spec {
        val root: Any?
        try {
            val tokener = JSONTokener(text)
            root = tokener.nextValue()
            if (tokener.nextClean() != '\u0000') throw SpecException("spec: trailing characters after the JSON value")
        } catch (e: JSONException) {
            throw SpecException("spec is not valid JSON: ${oneLine(e.message)}")
        }
        if (root !is JSONObject) throw SpecException("spec is not a JSON object")
        return fromJson(root)
    }

    fun fromJson(o: JSONObject): Spec {
        if (o.has("contract_version")) {
            val v = asInteger(o.get("contract_version"))
            if (v == null || v != Contract.CONTRACT_VERSION.toLong()) {
                throw SpecException(
                    "spec: contract_version ${describe(o.get("contract_version"))} is not supported " +
                        "(this app speaks contract version ${Contract.CONTRACT_VERSION})"
                )
            }
        }
        val missing = REQUIRED.filter { !o.has(it) }
        if (missing.isNotEmpty()) throw SpecException("spec: missing required field(s): ${missing.joinToString(", ")}")
        val unknown = ArrayList<String>()
        val keys = o.keys()
        while (keys.hasNext()) {
            val k = keys.next()
            if (k !in REQUIRED && k !in OPTIONAL) unknown.add(k)
        }
        if (unknown.isNotEmpty()) throw SpecException("spec: unknown field(s): ${unknown.sorted().joinToString(", ")}")

        val runId = string(o, "run_id")
        if (!RUN_ID_RE.matches(runId)) throw SpecException("spec: run_id must match ${Contract.RUN_ID_PATTERN}")
        val modelPath = string(o, "model_path")
        if (modelPath.length == 0) throw SpecException("spec: model_path must not be empty")
        val sha = string(o, "model_sha256")
        if (!SHA256_RE.matches(sha)) throw SpecException("spec: model_sha256 must be 64 lowercase hex digits")
        val export = string(o, "export")
        if (export !in EXPORTS) throw SpecException("spec: export must be one of ${EXPORTS.joinToString(", ")}, got \"$export\"")

        val promptsRaw = o.get("prompts")
        if (promptsRaw !is JSONArray) throw SpecException("spec: prompts must be an array, got ${describe(promptsRaw)}")
        if (promptsRaw.length() < 1) throw SpecException("spec: prompts must hold at least one prompt")
        val prompts = ArrayList<String>()
        for (i in 0 until promptsRaw.length()) {
            val p = promptsRaw.get(i)
            if (p !is String) throw SpecException("spec: prompts[$i] must be a string, got ${describe(p)}")
            prompts.add(p)
        }

        var tokenIds: List<List<Long>>? = null
        if (o.has("prompt_token_ids")) {
            val raw = o.get("prompt_token_ids")
            if (raw !is JSONArray) throw SpecException("spec: prompt_token_ids must be an array, got ${describe(raw)}")
            val lists = ArrayList<List<Long>>()
            for (i in 0 until raw.length()) {
                val inner = raw.get(i)
                if (inner !is JSONArray) throw SpecException("spec: prompt_token_ids[$i] must be an array, got ${describe(inner)}")
                val ids = ArrayList<Long>()
                for (j in 0 until inner.length()) {
                    val id = asInteger(inner.get(j))
                    if (id == null || id < 0) {
                        throw SpecException("spec: prompt_token_ids[$i][$j] must be an integer >= 0, got ${describe(inner.get(j))}")
                    }
                    ids.add(id)
                }
                lists.add(ids)
            }
            tokenIds = lists
        }

        val maxLength = integer(o, "max_length", 2)
        val cw = o.get("context_window_words")
        val contextWindow = if (cw == JSONObject.NULL) null else integer(o, "context_window_words", 1)
        val warmup = integer(o, "warmup_runs", 0)
        val measured = integer(o, "measured_runs", 1)
        val threads = integer(o, "threads", 1)
        val delegate = string(o, "delegate")
        if (delegate !in DELEGATES) throw SpecException("spec: delegate must be one of ${DELEGATES.joinToString(", ")}, got \"$delegate\"")

        if (export == Contract.EXPORT_PREFILL_DECODE && (tokenIds == null || tokenIds.size != prompts.size)) {
            throw SpecException("spec: prefill_decode needs prompt_token_ids, one list per prompt")
        }
        return Spec(
            Contract.CONTRACT_VERSION, runId, modelPath, sha, export, prompts, tokenIds, maxLength,
            contextWindow, warmup, measured, threads, delegate
        )
    }

    private fun string(o: JSONObject, name: String): String {
        val v = o.get(name)
        if (v !is String) throw SpecException("spec: $name must be a string, got ${describe(v)}")
        return v
    }

    private fun integer(o: JSONObject, name: String, min: Int): Int {
        val v = o.get(name)
        val n = asInteger(v) ?: throw SpecException("spec: $name must be an integer, got ${describe(v)}")
        if (n < min) throw SpecException("spec: $name must be >= $min, got $n")
        if (n > Int.MAX_VALUE) throw SpecException("spec: $name is too large: $n")
        return n.toInt()
    }

    /** An integral JSON number as a Long (5 and 5.0 both count, as in JSON Schema), else null. */
    fun asInteger(v: Any?): Long? = when (v) {
        is Int -> v.toLong()
        is Long -> v
        is Short -> v.toLong()
        is Byte -> v.toLong()
        is Double -> if (!v.isNaN() && !v.isInfinite() && v == Math.floor(v) && Math.abs(v) < 9.0e15) v.toLong() else null
        is Float -> if (!v.isNaN() && !v.isInfinite() && v.toDouble() == Math.floor(v.toDouble())) v.toLong() else null
        is BigInteger -> if (v.bitLength() < 63) v.toLong() else null
        is BigDecimal -> try {
            v.longValueExact()
        } catch (e: ArithmeticException) {
            null
        }
        else -> null
    }

    fun describe(v: Any?): String = when {
        v == null || v == JSONObject.NULL -> "null"
        v is String -> "a string"
        v is Boolean -> "a boolean"
        v is Number -> v.toString()
        v is JSONArray -> "an array"
        v is JSONObject -> "an object"
        else -> v.javaClass.simpleName
    }
}

/** Collapses a message to one line (the contract's `error` is one line). */
fun oneLine(message: String?, limit: Int = 500): String {
    val s = (message ?: "").replace(Regex("\\s+"), " ").trim()
    return if (s.length > limit) s.substring(0, limit) + "..." else s
}
