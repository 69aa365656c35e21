package dev.harness.benchmark.core

import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertSame
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

/**
 * A model whose k-th call (0 = prefill) answers the vector's logits[k]; it records what it was fed.
 * It states its max length as the real engine does: none for a stateful model whose prefill takes
 * the prompt's length (the loop then runs to the max length it is given).
 */
class VectorEngine(private val v: JSONObject) : PrefillDecodeEngine {
    override val prefillTakesPromptLength: Boolean = when (val kind = v.getString("prefill_input")) {
        "prompt" -> true
        "padded" -> false
        else -> throw IllegalArgumentException("vector '${v.getString("name")}': prefill_input '$kind'")
    }
    override val stateful: Boolean = v.getBoolean("stateful")
    override val maxLength: Int? = if (stateful && prefillTakesPromptLength) null else v.getInt("max_length")
    override val threadsConfigured: Int = 1
    override val delegateUsed: String = "cpu"
    private val rows: JSONArray = v.getJSONArray("logits")
    var calls = 0
    val feeds = ArrayList<List<Int>>()
    var prefillIds: List<Int>? = null
    var prefillLength = -1
    private var lastCache: Any? = null
    var closed = false

    private fun step(): DecodeStep {
        check(calls < rows.length()) { "call #$calls beyond the vector's ${rows.length()} logits" }
        val row = rows.getJSONArray(calls)
        val logits = FloatArray(row.length()) { i -> if (row.isNull(i)) Float.NaN else row.getDouble(i).toFloat() }
        calls += 1
        val cache: Any? = if (stateful) null else "cache#$calls" // a distinct object per call
        lastCache = cache
        return DecodeStep(logits, cache)
    }

    override fun prefill(tokenIds: IntArray, promptLength: Int): DecodeStep {
        check(calls == 0) { "prefill after another call" }
        prefillIds = tokenIds.toList()
        prefillLength = promptLength
        return step()
    }

    override fun decode(tokenId: Int, index: Int, cache: Any?): DecodeStep {
        if (stateful) assertNull("a stateful decode gets no cache", cache)
        else assertSame("decode gets the cache the previous call returned", lastCache, cache)
        feeds.add(listOf(tokenId, index))
        return step()
    }

    override fun close() {
        closed = true
    }
}

class PrefillDecodeTest {
    private val vectors = Examples.json("prefill-decode-vectors.json").getJSONArray("vectors")

    private fun ints(a: JSONArray): List<Int> = (0 until a.length()).map { a.getInt(it) }
    private fun longs(a: JSONArray): List<Long> = (0 until a.length()).map { a.getLong(it) }

    @Test
    fun greedyLoopFollowsTheSharedVectors() {
        assertTrue(vectors.length() >= 11)
        val kinds = HashMap<String, Int>()
        for (i in 0 until vectors.length()) {
            val v = vectors.getJSONObject(i)
            val name = v.getString("name")
            val engine = VectorEngine(v)
            val max = v.getInt("max_length")
            var t = 0L
            val r = GreedyDecoder.run(engine, longs(v.getJSONArray("prompt_token_ids")), max) { t += 1000; t }
            assertEquals(name, ints(v.getJSONArray("expected_output_token_ids")), r.outputTokenIds)
            assertEquals(name, v.getInt("expected_prompt_length"), r.promptTokenCount)
            assertEquals(name, v.getInt("expected_prompt_length"), engine.prefillLength)
            val feeds = v.getJSONArray("expected_decode_feeds")
            assertEquals(name, (0 until feeds.length()).map { ints(feeds.getJSONArray(it)) }, engine.feeds)
            assertEquals(name, v.getJSONArray("logits").length(), engine.calls)
            // The prefill feed: exactly the prompt's n ids ([1, n]) or the ids padded with zeros to L.
            val ids = longs(v.getJSONArray("prompt_token_ids")).take(max).map { it.toInt() }
            val kind = v.getString("prefill_input")
            kinds[kind] = (kinds[kind] ?: 0) + 1
            val expectedFeed = if (kind == "prompt") ids else ids + List(max - ids.size) { 0 }
            assertEquals(name, expectedFeed, engine.prefillIds)
            assertEquals(name, if (kind == "prompt") v.getInt("expected_prompt_length") else max, engine.prefillIds!!.size)
            assertEquals(name, feeds.length(), r.decodeNanos.size)
            // Each call is timed alone (two clock readings around it); wall spans them all.
            assertEquals(name, 1000L, r.prefillNanos)
            assertTrue(name, r.decodeNanos.all { it == 1000L })
            assertTrue(name, r.wallNanos >= r.prefillNanos + r.decodeNanos.sum())
        }
        // Both prefill forms are exercised, and every vector was one of them (VectorEngine refuses others).
        assertTrue(kinds.toString(), (kinds["prompt"] ?: 0) >= 3 && (kinds["padded"] ?: 0) >= 1)
    }

    @Test
    fun prefillLengthIsThePromptsOrL() {
        assertEquals(3, GreedyDecoder.prefillLength(3, 8, takesPromptLength = true))
        assertEquals(8, GreedyDecoder.prefillLength(8, 8, takesPromptLength = true))
        assertEquals(8, GreedyDecoder.prefillLength(3, 8, takesPromptLength = false))
    }

    @Test
    fun aModelOfAnotherMaxLengthIsRefusedBeforeAnyCall() {
        val v = vectors.getJSONObject(0)
        val engine = VectorEngine(v)
        try {
            GreedyDecoder.run(engine, listOf(4L, 1L), v.getInt("max_length") + 1) { 0L }
            fail("ran with a max length the model does not have")
        } catch (e: IllegalArgumentException) {
            assertEquals("model max length 6 != spec max length 7", e.message)
        }
        assertEquals(0, engine.calls)
    }

    @Test
    fun argmaxIsNumpys() {
        assertEquals(0, GreedyDecoder.argmax(floatArrayOf(1f, 1f, 0f)))
        assertEquals(2, GreedyDecoder.argmax(floatArrayOf(-3f, -2f, -1f)))
        assertEquals(1, GreedyDecoder.argmax(floatArrayOf(5f, Float.NaN, 9f, Float.NaN)))
        assertEquals(1, GreedyDecoder.argmax(floatArrayOf(Float.NEGATIVE_INFINITY, 0f)))
    }

    @Test(expected = IllegalArgumentException::class)
    fun emptyPromptIsRefused() {
        GreedyDecoder.run(VectorEngine(vectors.getJSONObject(0)), emptyList(), 6) { 0L }
    }

    @Test
    fun headroomIsReadAtMostOncePerSecondAndReusedReadingsCarryTheirAge() {
        var now = 0L
        var reads = 0
        var value: Double? = 0.5
        val s = ThermalHeadroomSampler({ reads += 1; value }, { now })
        val a = s.sample()
        assertEquals(0.5, a.value!!, 0.0)
        assertEquals(0.0, a.ageMs!!, 0.0)
        now += 300_000_000L // 300 ms later: reused, 300 ms old
        value = 0.9
        val b = s.sample()
        assertEquals(1, reads)
        assertEquals(0.5, b.value!!, 0.0)
        assertEquals(300.0, b.ageMs!!, 1e-9)
        now += 700_000_000L // a second after the real reading: read again
        val c = s.sample()
        assertEquals(2, reads)
        assertEquals(0.9, c.value!!, 0.0)
        assertEquals(0.0, c.ageMs!!, 0.0)
        now += 1_000_000_000L
        value = Double.NaN // what the API answers when asked too often
        val d = s.sample()
        assertNull(d.value)
        assertNull(d.ageMs)
        now += 10_000_000L
        val e = s.sample() // no real reading to reuse: still null, and no call
        assertNull(e.value)
        assertEquals(3, reads)
        assertFalse(e.ageMs != null)
    }
}
