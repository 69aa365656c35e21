package dev.harness.benchmark.core

/**
 * What one prefill or decode call gave: the next-token logits (the model's `logits` output,
 * [1, vocab], as its one row) and, for a stateless model, the updated KV cache, which the loop
 * hands unchanged to the next decode call. What the cache object is belongs to the engine.
 */
class DecodeStep(val logits: FloatArray, val cache: Any?)

/**
 * A loaded prefill/decode model (docs/generation-metrics.md): signatures `prefill`
 * (token_ids int32 [1, n] or [1, L], prompt_length int32) and `decode` (token_id int32 [1, 1],
 * index int32, plus `cache` when stateless). Each call's time is taken by the loop around it.
 */
interface PrefillDecodeEngine : Engine {
    /**
     * L, the max length baked into the model, where the model states it: prefill's `token_ids`
     * length when that is fixed, else the stateless cache's positions. Null for a stateful model
     * whose prefill takes the prompt's length (nothing in its signatures carries L); the loop then
     * runs to the spec's max length, as the host's runner does.
     */
    val maxLength: Int?

    /** True when `decode` takes no `cache` input (the cache lives in the model's variables). */
    val stateful: Boolean

    /**
     * True when prefill's `token_ids` has shape signature [1, -1] (export code version 6 and
     * later): it takes the prompt's own n ids and computes n positions. False for a model whose
     * input is fixed at [1, L]: it is fed the prompt padded with zeros to L.
     */
    val prefillTakesPromptLength: Boolean

    /** [tokenIds]: the prompt's n ids, then (when prefill does not take the prompt's length) zeros up to L. */
    fun prefill(tokenIds: IntArray, promptLength: Int): DecodeStep

    /** [cache] is the previous call's [DecodeStep.cache] for a stateless model, null for a stateful one. */
    fun decode(tokenId: Int, index: Int, cache: Any?): DecodeStep
}

/** One greedy generation, with the time of every interpreter call (nanoseconds). */
class PrefillDecodeOutput(
    val wallNanos: Long,
    val prefillNanos: Long,
    val decodeNanos: List<Long>,
    val outputTokenIds: List<Int>,
    val promptTokenCount: Int
)

/**
 * The greedy loop of the host's `PrefillDecodeRunner.run` (harness/devices/host/generate.py), step
 * for step, with L = the spec's max length (the runner's `max_length`):
 *
 * - `ids = prompt_token_ids[:L]`, `n = len(ids)`; prefill's token_ids = exactly the n ids ([1, n])
 *   when the model takes the prompt's length ([PrefillDecodeEngine.prefillTakesPromptLength]),
 *   else the ids padded with zeros to L ([1, L]); prompt_length = n either way;
 * - one `prefill(token_ids, n)`; then for `index = n .. L-1`: the argmax of the last logits is the
 *   token at position `index`; unless `index == L-1`, `decode(token, index[, cache])` gives the
 *   next logits. So it generates `L - n` tokens with `L - n - 1` decode calls; a prompt of L or
 *   more ids is cut to L and generates nothing (prefill still runs, as on the host);
 * - no end token: like keras-hub's generate_step with stop_token_ids=None, generation always runs
 *   to max length (a generated end-of-text id does not stop it);
 * - argmax as numpy's: the first maximum; a NaN counts as the maximum (the first NaN wins).
 *
 * `wall` spans from before prefill to after the last argmax; `prefill` and each `decode` time the
 * engine call alone (feed, invoke, output copy). harness/data/contract/examples/prefill-decode-vectors.json
 * pins the behaviour on both sides.
 */
object GreedyDecoder {
    fun argmax(v: FloatArray): Int {
        require(v.isNotEmpty()) { "empty logits" }
        var best = 0
        for (i in v.indices) {
            if (v[i].isNaN()) return i
            if (v[i] > v[best]) best = i
        }
        return best
    }

    /** How many ids prefill is fed for an n-id prompt (the host's `prefill_length`): n, or L padded. */
    fun prefillLength(n: Int, maxLength: Int, takesPromptLength: Boolean): Int =
        if (takesPromptLength) minOf(n, maxLength) else maxLength

    fun run(engine: PrefillDecodeEngine, promptIds: List<Long>, maxLength: Int, clock: () -> Long): PrefillDecodeOutput {
        val length = maxLength
        require(length >= 1) { "max length $length < 1" }
        engine.maxLength?.let { require(it == length) { "model max length $it != spec max length $length" } }
        val ids = promptIds.take(length).map { id ->
            if (id < 0 || id > Int.MAX_VALUE) throw IllegalArgumentException("token id $id is outside int32")
            id.toInt()
        }
        if (ids.isEmpty()) throw IllegalArgumentException("empty prompt_token_ids (the start token is part of the prompt)")
        val n = ids.size
        val tokenIds = IntArray(prefillLength(n, length, engine.prefillTakesPromptLength)) // zeros beyond n
        for (i in 0 until n) tokenIds[i] = ids[i]
        val out = ArrayList<Int>(length)
        out.addAll(ids)
        val decodeNanos = ArrayList<Long>()
        val tStart = clock()
        var t0 = clock()
        var step = engine.prefill(tokenIds, n)
        val prefillNanos = clock() - t0
        var cache = step.cache
        for (index in n until length) {
            val next = argmax(step.logits)
            out.add(next)
            if (index == length - 1) break
            t0 = clock()
            step = engine.decode(next, index, if (engine.stateful) null else cache)
            decodeNanos.add(clock() - t0)
            cache = step.cache
        }
        val wallNanos = clock() - tStart
        return PrefillDecodeOutput(wallNanos, prefillNanos, decodeNanos, out, n)
    }
}

/** A thermal headroom value and how old it was when recorded: 0.0 = read at that moment. */
const val MIN_REUSED_AGE_MS = 0.001

class HeadroomReading(val value: Double?, val ageMs: Double?)

/**
 * PowerManager.getThermalHeadroom returns NaN when called "significantly faster than once per
 * second" (Android's documentation), which made every `thermal_headroom_before` but the first
 * null (review C1). This sampler calls [read] at most once per [minIntervalNanos] and otherwise
 * hands back the last reading with its age, so every generation has a before and an after value
 * and the host can tell real readings (age 0) from repeated ones (age >= 0.001 ms). A reading that was
 * NaN or unknown stays null (age null) until the next real call.
 */
class ThermalHeadroomSampler(
    private val read: () -> Double?,
    private val nanos: () -> Long,
    private val minIntervalNanos: Long = Contract.HEADROOM_MIN_INTERVAL_MS * 1_000_000L
) {
    private var lastAt: Long? = null
    private var lastValue: Double? = null

    fun sample(): HeadroomReading {
        val now = nanos()
        val at = lastAt
        if (at != null && now - at < minIntervalNanos) {
            val v = lastValue
            // At least 1 µs (the field's resolution), so that age 0 marks exactly the real readings
            // even where the clock did not move (a frozen test clock).
            return HeadroomReading(v, if (v == null) null else maxOf((now - at) / 1.0e6, MIN_REUSED_AGE_MS))
        }
        val v = try {
            read()?.takeIf { !it.isNaN() && !it.isInfinite() && it >= 0.0 }
        } catch (t: Throwable) {
            null
        }
        lastAt = now
        lastValue = v
        return HeadroomReading(v, if (v == null) null else 0.0)
    }
}
