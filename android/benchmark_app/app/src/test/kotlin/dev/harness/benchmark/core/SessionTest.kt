package dev.harness.benchmark.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

/** The whole contract flow with a fake platform and engine: what the activity does, minus Android. */
class SessionTest {
    private val work = tempDir("harness-work")
    private val results = File(work, "results")
    private val modelBytes = "not really a tflite model".toByteArray()
    private val modelFile = File(work, "models/m.tflite").also {
        it.parentFile.mkdirs()
        it.writeBytes(modelBytes)
    }
    private val modelSha = Sha256.hex(modelFile)

    private fun spec(runId: String, change: (JSONObject) -> Unit = {}): String {
        val o = Examples.json("spec-oneshot.json")
        o.put("run_id", runId)
        o.put("model_path", modelFile.path)
        o.put("model_sha256", modelSha)
        o.put("context_window_words", 3)
        change(o)
        val f = File(work, "specs/$runId.json")
        f.parentFile.mkdirs()
        f.writeText(o.toString())
        return f.path
    }

    private fun echoEngine(): FakeEngine = FakeEngine({ p -> EngineOutput(6_712_250_000L, "$p and then some", 100, 6) })

    private fun result(outcome: Outcome): JSONObject {
        val f = outcome.resultFile
        assertNotNull("a result file was written", f)
        val text = f!!.readText()
        jvmTestOutputDir()?.let { File(it, f.name).writeText(text) }
        assertFalse(File(results, f.name + ".tmp").exists())
        return JSONObject(text)
    }

    @Test
    fun okRunCyclesPromptsAppliesWindowAndLogs() {
        val engine = echoEngine()
        val platform = FakePlatform(results) { _, _ -> engine }
        val out = BenchmarkSession(platform).run(spec("jvm-ok"), "jvm-ok")
        assertEquals("ok", out.status)
        val r = result(out)
        assertEquals("ok", r.getString("status"))
        assertTrue(r.isNull("error"))
        assertEquals("jvm-ok", r.getString("run_id"))
        assertEquals(modelSha, r.getJSONObject("model").getString("sha256"))
        assertEquals(modelBytes.size.toLong(), r.getJSONObject("model").getLong("size_bytes"))
        assertEquals(250.0, r.getDouble("load_ms"), 1e-6)
        assertEquals(40960L, r.getJSONObject("memory").getLong("rss_before_load_kb"))
        assertEquals(123456L, r.getJSONObject("memory").getLong("vmhwm_kb"))
        assertEquals(4, r.getInt("threads_used"))
        assertEquals("cpu", r.getString("delegate_used"))
        val gens = r.getJSONArray("generations")
        assertEquals(4, gens.length())
        val phases = (0 until 4).map { gens.getJSONObject(it).getString("phase") }
        assertEquals(listOf("warmup", "measured", "measured", "measured"), phases)
        val promptIdx = (0 until 4).map { gens.getJSONObject(it).getInt("prompt_index") }
        assertEquals(listOf(0, 0, 1, 0), promptIdx)
        val idx = (0 until 4).map { gens.getJSONObject(it).getInt("index") }
        assertEquals(listOf(0, 0, 1, 2), idx)
        val second = gens.getJSONObject(2)
        assertEquals("— or don't.", second.getString("prompt_used"))
        assertEquals("— or don't. and then some", second.getString("output_text"))
        assertEquals(6712.25, second.getDouble("wall_ms"), 1e-9)
        assertEquals(100, second.getInt("token_count"))
        assertEquals(6, second.getInt("prompt_token_count"))
        // Every generation has a headroom before and after (review C1): the fake clock advances
        // 250 ms per reading, so some are reused readings, marked by their age.
        for (i in 0 until gens.length()) {
            val g = gens.getJSONObject(i)
            assertEquals(0.42, g.getDouble("thermal_headroom_before"), 1e-9)
            assertEquals(0.42, g.getDouble("thermal_headroom_after"), 1e-9)
            assertTrue(g.getDouble("thermal_headroom_before_age_ms") < 1000.0)
            assertTrue(g.getDouble("thermal_headroom_after_age_ms") < 1000.0)
            assertTrue(g.getBoolean("interactive_before") && g.getBoolean("interactive_after"))
            assertTrue(g.isNull("prefill_ms") && g.isNull("decode_ms") && g.isNull("output_token_ids"))
        }
        assertEquals(0.0, gens.getJSONObject(0).getDouble("thermal_headroom_before_age_ms"), 0.0)
        val ages = (0 until gens.length()).flatMap {
            listOf(gens.getJSONObject(it).getDouble("thermal_headroom_before_age_ms"), gens.getJSONObject(it).getDouble("thermal_headroom_after_age_ms"))
        }
        assertTrue("some readings are real", ages.count { it == 0.0 } >= 2)
        assertTrue("some are reused", ages.any { it > 0.0 })
        assertEquals("warm", r.getString("load_kind"))
        assertTrue(r.isNull("cold_load_ms"))
        assertEquals(8, r.getInt("cpu_count"))
        assertEquals(listOf("to Yosemite was", "to Yosemite was", "— or don't.", "to Yosemite was"), engine.prompts)
        assertTrue(engine.closed)

        assertEquals(LogLines.start("jvm-ok"), platform.lines.first())
        assertEquals(LogLines.done("jvm-ok", "ok"), platform.lines.last())
        val progress = platform.lines.filter { it.startsWith("HARNESS_PROGRESS") }
        assertEquals(
            listOf(
                "HARNESS_PROGRESS run_id=jvm-ok phase=warmup index=0 total=1 wall_ms=6712.250",
                "HARNESS_PROGRESS run_id=jvm-ok phase=measured index=0 total=3 wall_ms=6712.250",
                "HARNESS_PROGRESS run_id=jvm-ok phase=measured index=1 total=3 wall_ms=6712.250",
                "HARNESS_PROGRESS run_id=jvm-ok phase=measured index=2 total=3 wall_ms=6712.250"
            ),
            progress
        )
    }

    @Test
    fun unknownThermalHeadroomIsNull() {
        val platform = FakePlatform(results) { _, _ -> echoEngine() }
        platform.headroom = Double.NaN   // what getThermalHeadroom answers when asked too often
        val r = result(BenchmarkSession(platform).run(spec("jvm-nan-headroom"), "jvm-nan-headroom"))
        val g = r.getJSONArray("generations").getJSONObject(0)
        assertTrue(g.isNull("thermal_headroom_before") && g.isNull("thermal_headroom_after"))
    }

    @Test
    fun badSpecGivesAnErrorResultAndNoEngine() {
        val platform = FakePlatform(results) { _, _ -> throw AssertionError("must not load") }
        val out = BenchmarkSession(platform).run(spec("jvm-bad-spec") { it.put("contract_version", 4) }, "jvm-bad-spec")
        assertEquals("error", out.status)
        val r = result(out)
        assertTrue(r.getString("error").contains("contract_version"))
        assertEquals(0, r.getJSONArray("generations").length())
        assertTrue(r.isNull("load_ms"))
        assertTrue(r.getJSONObject("memory").isNull("rss_before_load_kb"))   // never got to loading
        assertEquals(LogLines.done("jvm-bad-spec", "error"), platform.lines.last())
    }

    @Test
    fun missingSpecFileAndMissingExtra() {
        val platform = FakePlatform(results) { _, _ -> echoEngine() }
        val r1 = result(BenchmarkSession(platform).run(File(work, "nope.json").path, "jvm-no-spec"))
        assertTrue(r1.getString("error").contains("spec file not found"))
        val r2 = result(BenchmarkSession(platform).run(null, "jvm-no-extra"))
        assertTrue(r2.getString("error").contains("spec_path"))
    }

    @Test
    fun missingModel() {
        val platform = FakePlatform(results) { _, _ -> echoEngine() }
        val out = BenchmarkSession(platform).run(spec("jvm-no-model") { it.put("model_path", "/nonexistent/m.tflite") }, "jvm-no-model")
        val r = result(out)
        assertTrue(r.getString("error").startsWith("model not found"))
        assertEquals("/nonexistent/m.tflite", r.getJSONObject("model").getString("path"))
    }

    @Test
    fun shaMismatch() {
        val platform = FakePlatform(results) { _, _ -> echoEngine() }
        val out = BenchmarkSession(platform).run(spec("jvm-sha") { it.put("model_sha256", "0".repeat(64)) }, "jvm-sha")
        val r = result(out)
        assertTrue(r.getString("error").contains("sha256 mismatch"))
        assertEquals(modelSha, r.getJSONObject("model").getString("sha256"))
    }

    @Test
    fun loadFailureIsReported() {
        val platform = FakePlatform(results) { _, _ ->
            throw IllegalArgumentException("Internal error: Cannot create interpreter: Select TensorFlow op(s)\nare not supported")
        }
        val out = BenchmarkSession(platform).run(spec("jvm-load"), "jvm-load")
        val r = result(out)
        assertEquals("error", r.getString("status"))
        assertEquals(
            "model failed to load: IllegalArgumentException: Internal error: Cannot create interpreter: Select TensorFlow op(s) are not supported",
            r.getString("error")
        )
        assertTrue(r.isNull("load_ms"))
    }

    @Test
    fun failureMidRunKeepsFinishedGenerations() {
        var n = 0
        val engine = FakeEngine({ p ->
            n += 1
            if (n == 3) throw IllegalStateException("native crash stand-in")
            EngineOutput(1_000_000L, p, null, null)
        })
        val platform = FakePlatform(results) { _, _ -> engine }
        val out = BenchmarkSession(platform).run(spec("jvm-mid"), "jvm-mid")
        val r = result(out)
        assertEquals("error", r.getString("status"))
        assertTrue(r.getString("error"), r.getString("error").contains("generation failed (measured #1)"))
        assertEquals(2, r.getJSONArray("generations").length())
        assertTrue(r.getJSONArray("generations").getJSONObject(1).isNull("token_count"))
        assertTrue(engine.closed)
    }

    /**
     * An L-position model whose next token at position p is p % 5 (one-hot logits); it records the
     * length of every prefill feed. [maxLength] null: a stateful model taking the prompt's length.
     */
    private class PositionEngine(
        override val maxLength: Int?,
        override val stateful: Boolean = false,
        override val prefillTakesPromptLength: Boolean = false
    ) : PrefillDecodeEngine {
        override val threadsConfigured = 2
        override val delegateUsed = "cpu"
        var prefills = 0
        var decodes = 0
        val prefillFeeds = ArrayList<List<Int>>()
        var closed = false
        private fun oneHot(position: Int) = FloatArray(5).also { it[position % 5] = 1f }
        override fun prefill(tokenIds: IntArray, promptLength: Int): DecodeStep {
            prefills += 1
            prefillFeeds.add(tokenIds.toList())
            return DecodeStep(oneHot(promptLength), if (stateful) null else "c")
        }
        override fun decode(tokenId: Int, index: Int, cache: Any?): DecodeStep {
            decodes += 1
            if (!stateful) assertEquals("c", cache)
            return DecodeStep(oneHot(index + 1), if (stateful) null else "c")
        }
        override fun close() {
            closed = true
        }
    }

    private fun pdSpec(runId: String, maxLength: Int = 6): String = spec(runId) {
        it.put("export", "prefill_decode")
        it.put("max_length", maxLength)
        it.put("prompt_token_ids", org.json.JSONArray().put(org.json.JSONArray().put(4).put(1)).put(org.json.JSONArray().put(4).put(1).put(2)))
    }

    @Test
    fun prefillDecodeRunsTheGreedyLoopPerGeneration() {
        val engine = PositionEngine(6)
        val platform = FakePlatform(results) { _, _ -> engine }
        val out = BenchmarkSession(platform).run(pdSpec("jvm-pd"), "jvm-pd")
        assertEquals(out.error, "ok", out.status)
        val r = result(out)
        val gens = r.getJSONArray("generations")
        assertEquals(4, gens.length())
        assertEquals(4, engine.prefills)
        assertTrue(engine.closed)
        assertEquals(2, r.getInt("threads_used"))
        for (i in 0 until gens.length()) {
            val g = gens.getJSONObject(i)
            val ids = g.getJSONArray("output_token_ids")
            val prompt = if (g.getInt("prompt_index") == 0) listOf(4, 1) else listOf(4, 1, 2)
            val expected = prompt + (prompt.size until 6).map { it % 5 }
            assertEquals(expected, (0 until ids.length()).map { ids.getInt(it) })
            assertEquals(6, g.getInt("token_count"))
            assertEquals(prompt.size, g.getInt("prompt_token_count"))
            assertEquals(6 - prompt.size - 1, g.getJSONArray("decode_ms").length())
            assertEquals(250.0, g.getDouble("prefill_ms"), 1e-9)   // the fake clock: 250 ms a reading
            assertEquals("", g.getString("output_text"))
            val decodeSum = (0 until g.getJSONArray("decode_ms").length()).sumOf { g.getJSONArray("decode_ms").getDouble(it) }
            assertTrue(g.getDouble("wall_ms") >= g.getDouble("prefill_ms") + decodeSum)
        }
        assertEquals(
            "HARNESS_PROGRESS run_id=jvm-pd phase=measured index=0 total=3 wall_ms=" +
                String.format(java.util.Locale.US, "%.3f", gens.getJSONObject(1).getDouble("wall_ms")),
            platform.lines.filter { it.startsWith("HARNESS_PROGRESS") }[1]
        )
    }

    @Test
    fun aStatefulModelTakingThePromptsLengthRunsToTheSpecsMaxLength() {
        // Nothing in such a model's signatures carries L: the loop runs to the spec's max length,
        // and prefill is fed each prompt's own ids ([1, 2] and [1, 3]), never padded.
        val engine = PositionEngine(null, stateful = true, prefillTakesPromptLength = true)
        val platform = FakePlatform(results) { _, _ -> engine }
        val out = BenchmarkSession(platform).run(pdSpec("jvm-pd-prompt", maxLength = 7), "jvm-pd-prompt")
        assertEquals(out.error, "ok", out.status)
        val gens = result(out).getJSONArray("generations")
        assertEquals(4, gens.length())
        assertEquals(gens.length(), engine.prefillFeeds.size)
        for (i in 0 until gens.length()) {
            val g = gens.getJSONObject(i)
            val prompt = if (g.getInt("prompt_index") == 0) listOf(4, 1) else listOf(4, 1, 2)
            assertEquals(prompt, engine.prefillFeeds[i])
            val ids = g.getJSONArray("output_token_ids")
            assertEquals(prompt + (prompt.size until 7).map { it % 5 }, (0 until ids.length()).map { ids.getInt(it) })
            assertEquals(7 - prompt.size - 1, g.getJSONArray("decode_ms").length())
        }
    }

    @Test
    fun aPaddedModelIsFedThePromptPaddedToL() {
        val engine = PositionEngine(6)
        val platform = FakePlatform(results) { _, _ -> engine }
        val out = BenchmarkSession(platform).run(pdSpec("jvm-pd-padded"), "jvm-pd-padded")
        assertEquals(out.error, "ok", out.status)
        val gens = result(out).getJSONArray("generations")
        assertEquals(gens.length(), engine.prefillFeeds.size)
        for (i in 0 until gens.length()) {
            val padded = if (gens.getJSONObject(i).getInt("prompt_index") == 0) listOf(4, 1, 0, 0, 0, 0) else listOf(4, 1, 2, 0, 0, 0)
            assertEquals(padded, engine.prefillFeeds[i])
        }
    }

    @Test
    fun prefillDecodeModelOfAnotherMaxLengthIsAnError() {
        val engine = PositionEngine(8)
        val platform = FakePlatform(results) { _, _ -> engine }
        val r = result(BenchmarkSession(platform).run(pdSpec("jvm-pd-len"), "jvm-pd-len"))
        assertEquals("error", r.getString("status"))
        assertEquals("model max length 8 != spec max length 6", r.getString("error"))
        assertEquals(0, r.getJSONArray("generations").length())
        assertTrue(engine.closed)
    }

    @Test
    fun anEngineThatThrowsMidDecodeGivesAnErrorResult() {
        val engine = object : PrefillDecodeEngine {
            override val maxLength = 6
            override val stateful = true
            override val prefillTakesPromptLength = false
            override val threadsConfigured = 1
            override val delegateUsed = "cpu"
            override fun prefill(tokenIds: IntArray, promptLength: Int) = DecodeStep(FloatArray(5), null)
            override fun decode(tokenId: Int, index: Int, cache: Any?): DecodeStep = throw IllegalStateException("decode exploded")
            override fun close() {}
        }
        val platform = FakePlatform(results) { _, _ -> engine }
        val r = result(BenchmarkSession(platform).run(pdSpec("jvm-pd-throw"), "jvm-pd-throw"))
        assertEquals("generation failed (warmup #0): IllegalStateException: decode exploded", r.getString("error"))
        assertEquals(LogLines.done("jvm-pd-throw", "error"), platform.lines.last())
    }

    @Test
    fun runIdMismatch() {
        val platform = FakePlatform(results) { _, _ -> echoEngine() }
        val out = BenchmarkSession(platform).run(spec("jvm-other"), "jvm-launch")
        assertEquals("jvm-launch", result(out).getString("run_id"))
        assertTrue(out.error!!.contains("differs"))
    }

    @Test
    fun invalidRunIdWritesNothing() {
        val platform = FakePlatform(results) { _, _ -> echoEngine() }
        val out = BenchmarkSession(platform).run(spec("jvm-x"), "a;rm -rf /")
        assertNull(out.resultFile)
        assertEquals("error", out.status)
        assertFalse(platform.lines.any { it.startsWith("HARNESS_START") || it.startsWith("HARNESS_DONE") })
    }

    @Test
    fun staleResultIsRemovedBeforeTheRun() {
        results.mkdirs()
        File(results, "jvm-stale.json").writeText("{\"stale\": true}")
        val platform = FakePlatform(results) { _, _ -> throw IllegalStateException("no") }
        val r = result(BenchmarkSession(platform).run(spec("jvm-stale"), "jvm-stale"))
        assertFalse(r.has("stale"))
    }
}
