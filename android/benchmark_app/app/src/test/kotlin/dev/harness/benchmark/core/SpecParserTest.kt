package dev.harness.benchmark.core

import org.json.JSONArray
import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Test

class SpecParserTest {
    private fun example(): JSONObject = Examples.json("spec-oneshot.json")

    private fun refused(doc: String, vararg fragments: String) {
        try {
            SpecParser.parse(doc)
            fail("accepted: $doc")
        } catch (e: SpecException) {
            val m = e.message ?: ""
            for (f in fragments) assertTrue("'$m' should mention '$f'", m.contains(f))
            assertTrue("one line: $m", !m.contains("\n"))
        }
    }

    private fun refusedWith(change: (JSONObject) -> Unit, vararg fragments: String) {
        val o = example()
        change(o)
        refused(o.toString(), *fragments)
    }

    @Test
    fun parsesTheSharedExample() {
        val s = SpecParser.parse(Examples.text("spec-oneshot.json"))
        assertEquals(3, s.contractVersion)
        assertEquals("20261125T144500Z-pixel7-gpt2-dynamic-b0", s.runId)
        assertEquals("oneshot", s.export)
        assertEquals(2, s.prompts.size)
        assertTrue(s.prompts[1].contains("\"sunny\""))
        assertEquals(100, s.maxLength)
        assertEquals(50, s.contextWindowWords)
        assertEquals(1, s.warmupRuns)
        assertEquals(3, s.measuredRuns)
        assertEquals(4, s.threads)
        assertEquals("cpu", s.delegate)
        assertNull(s.promptTokenIds)
    }

    @Test
    fun acceptsTheBuiltinKernelsDelegate() {
        val o = example()
        o.put("delegate", "cpu-builtin")
        assertEquals(Contract.DELEGATE_CPU_BUILTIN, SpecParser.parse(o.toString()).delegate)
    }

    @Test
    fun nullContextWindowKeepsWholePrompt() {
        val o = example()
        o.put("context_window_words", JSONObject.NULL)
        assertNull(SpecParser.parse(o.toString()).contextWindowWords)
    }

    @Test
    fun integralFloatIsAnInteger() {
        val o = example()
        o.put("threads", 2.0)
        assertEquals(2, SpecParser.parse(o.toString()).threads)
    }

    @Test
    fun refusesNonJsonAndNonObjects() {
        refused("", "not valid JSON")
        refused("{\"contract_version\": 2", "not valid JSON")
        refused("[1, 2]", "not a JSON object")
        refused("{} trailing", "trailing")
    }

    @Test
    fun refusesOtherContractVersions() {
        refusedWith({ it.put("contract_version", 4) }, "contract_version", "not supported")
        refusedWith({ it.put("contract_version", 2) }, "contract_version", "not supported")
        refusedWith({ it.put("contract_version", "3") }, "contract_version")
    }

    @Test
    fun refusesMissingAndUnknownFields() {
        refusedWith({ it.remove("model_sha256") }, "missing", "model_sha256")
        refusedWith({ it.remove("context_window_words") }, "missing", "context_window_words")
        refusedWith({ it.put("temperature", 0.7) }, "unknown", "temperature")
    }

    @Test
    fun refusesBadValues() {
        refusedWith({ it.put("run_id", "a;rm -rf /") }, "run_id")
        refusedWith({ it.put("run_id", "") }, "run_id")
        refusedWith({ it.put("run_id", "x".repeat(97)) }, "run_id")
        refusedWith({ it.put("model_sha256", "ABC") }, "model_sha256")
        refusedWith({ it.put("model_path", "") }, "model_path")
        refusedWith({ it.put("export", "stream") }, "export")
        refusedWith({ it.put("prompts", JSONArray()) }, "prompts")
        refusedWith({ it.put("prompts", JSONArray().put("ok").put(3)) }, "prompts[1]")
        refusedWith({ it.put("prompts", "just one") }, "prompts")
        refusedWith({ it.put("max_length", 1) }, "max_length")
        refusedWith({ it.put("max_length", "100") }, "max_length", "integer")
        refusedWith({ it.put("context_window_words", 0) }, "context_window_words")
        refusedWith({ it.put("warmup_runs", -1) }, "warmup_runs")
        refusedWith({ it.put("measured_runs", 0) }, "measured_runs")
        refusedWith({ it.put("threads", 1.5) }, "threads")
        refusedWith({ it.put("threads", true) }, "threads")
        refusedWith({ it.put("delegate", "gpu") }, "delegate")
    }

    @Test
    fun prefillDecodeNeedsOneTokenListPerPrompt() {
        refusedWith({ it.put("export", "prefill_decode") }, "prompt_token_ids")
        refusedWith({
            it.put("export", "prefill_decode")
            it.put("prompt_token_ids", JSONArray().put(JSONArray().put(50256).put(3666)))
        }, "prompt_token_ids")
        refusedWith({
            it.put("export", "prefill_decode")
            it.put("prompt_token_ids", JSONArray().put(JSONArray().put(-1)).put(JSONArray().put(1)))
        }, "prompt_token_ids[0][0]")
        val o = example()
        o.put("export", "prefill_decode")
        o.put("prompt_token_ids", JSONArray().put(JSONArray().put(50256).put(3666)).put(JSONArray().put(464)))
        val s = SpecParser.parse(o.toString())
        assertEquals(listOf(50256L, 3666L), s.promptTokenIds!![0])
    }
}
