package dev.harness.benchmark.core

import org.json.JSONObject
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import java.io.File

class ResultTest {
    private fun sample(status: String = "ok", error: String? = null): BenchmarkResult = BenchmarkResult(
        "r-1", status, error,
        AppInfo("dev.harness.benchmark", "0.5.0+tflite-2.18.0", 5, "android-tflite", "2.18.0"),
        DeviceInfo("fp", "Pixel 7", false),
        ModelInfo("/data/local/tmp/harness/models/x.tflite", null, null),
        12.5, 4, "cpu", MemoryInfo(1000L, null),
        listOf(Generation("measured", 0, 0, "hi \"there\"", 6712.25, "hi \"there\" \u00e9\ud83d\ude00", 100, null, null, 2, 30.5, null)),
        "2026-11-25T14:45:00.123+00:00", "2026-11-25T14:45:10.000+00:00"
    )

    @Test
    fun jsonKeepsNullsAndEveryField() {
        val o = JSONObject(sample().toJsonString())
        val top = listOf(
            "contract_version", "run_id", "status", "error", "app", "device", "model", "load_ms",
            "load_kind", "cold_load_ms", "threads_used", "cpu_count", "delegate_used", "memory",
            "generations", "started_at", "finished_at"
        )
        for (k in top) assertTrue("has $k", o.has(k))
        assertEquals(top.size, o.length())
        assertTrue(o.isNull("error"))
        assertTrue(o.getJSONObject("model").isNull("sha256"))
        assertTrue(o.getJSONObject("model").isNull("size_bytes"))
        assertTrue(o.getJSONObject("memory").isNull("pss_kb"))
        assertTrue(o.getJSONObject("memory").isNull("rss_before_load_kb"))
        assertEquals(1000L, o.getJSONObject("memory").getLong("vmhwm_kb"))
        val g = o.getJSONArray("generations").getJSONObject(0)
        assertEquals(21, g.length())
        assertTrue(g.isNull("thermal_headroom_before") && g.isNull("thermal_headroom_after"))
        assertTrue(g.isNull("thermal_headroom_before_age_ms") && g.isNull("thermal_headroom_after_age_ms"))
        assertTrue(g.isNull("interactive_before") && g.isNull("interactive_after"))
        assertTrue(g.isNull("prefill_ms") && g.isNull("decode_ms") && g.isNull("output_token_ids"))
        assertEquals(3, o.getInt("contract_version"))
        assertTrue(o.isNull("load_kind") && o.isNull("cold_load_ms") && o.isNull("cpu_count"))
        assertEquals(6712.25, g.getDouble("wall_ms"), 1e-9)
        assertEquals("hi \"there\" \u00e9\ud83d\ude00", g.getString("output_text"))
        assertTrue(g.isNull("prompt_token_count"))
        assertTrue(g.isNull("thermal_status_before"))
        assertEquals(2, g.getInt("thermal_status_after"))
        assertTrue(g.isNull("battery_temp_c_after"))
        assertEquals("dev.harness.benchmark", o.getJSONObject("app").getString("package"))
    }

    @Test
    fun atomicWriteLeavesOnlyTheFinalFile() {
        val dir = File(tempDir("results"), "nested/results")
        val f = ResultWriter.writeAtomic(dir, "r-1", sample().toJsonString())
        assertEquals(File(dir, "r-1.json"), f)
        assertFalse(File(dir, "r-1.json.tmp").exists())
        assertEquals("r-1", JSONObject(f.readText()).getString("run_id"))
        // A second write replaces the first.
        ResultWriter.writeAtomic(dir, "r-1", sample("error", "boom").toJsonString())
        assertEquals("boom", JSONObject(f.readText()).getString("error"))
        assertEquals(listOf("r-1.json"), dir.list()!!.toList())
    }

    @Test(expected = IllegalArgumentException::class)
    fun atomicWriteRefusesUnsafeRunIds() {
        ResultWriter.writeAtomic(tempDir("results"), "../escape", "{}")
    }

    @Test
    fun timestampsAreIsoUtc() {
        assertEquals("1970-01-01T00:00:00.000+00:00", Timestamps.iso(0L))
        assertEquals("2026-11-25T14:45:00.123+00:00", Timestamps.iso(1795617900123L))
    }

    @Test
    fun tfliteStringTensorRoundTrip() {
        val raw = TfLiteStrings.encode(listOf("My trip to Yosemite was great \u00e9\ud83d\ude00", "second"))
        assertEquals("My trip to Yosemite was great \u00e9\ud83d\ude00", TfLiteStrings.decode(raw))
        assertEquals("second", TfLiteStrings.decode(raw, 1))
        // count=1, offsets 12 and 14, then "ok"
        val handmade = byteArrayOf(1, 0, 0, 0, 12, 0, 0, 0, 14, 0, 0, 0, 0x6f.toByte(), 0x6b.toByte())
        assertArrayEquals(handmade, TfLiteStrings.encode(listOf("ok")))
        assertEquals("ok", TfLiteStrings.decode(handmade))
        assertEquals("", TfLiteStrings.decode(TfLiteStrings.encode(listOf(""))))
    }

    @Test
    fun tfliteStringTensorRejectsGarbage() {
        val bad = listOf(
            byteArrayOf(1, 0),
            byteArrayOf(0, 0, 0, 0, 8, 0, 0, 0),
            byteArrayOf(1, 0, 0, 0, 12, 0, 0, 0, 99, 0, 0, 0, 0x6f.toByte()),
            byteArrayOf(5, 0, 0, 0, 12, 0, 0, 0)
        )
        for (b in bad) {
            try {
                TfLiteStrings.decode(b)
                throw AssertionError("accepted ${b.toList()}")
            } catch (e: IllegalArgumentException) {
                // expected
            }
        }
    }

    @Test
    fun vmHwmFromProcStatus() {
        val status = "Name:\tbenchmark\nVmPeak:\t 2345678 kB\nVmHWM:\t 1184532 kB\nVmRSS:\t  902144 kB\n"
        assertEquals(1184532L, ProcStatus.vmHwmKb(status))
        assertNull(ProcStatus.vmHwmKb("Name:\tx\n"))
        assertEquals(902144L, ProcStatus.vmRssKb(status))
        assertNull(ProcStatus.vmRssKb("Name:\tx\n"))
    }

    @Test
    fun sha256OfAFile() {
        val f = File(tempDir("sha"), "m.tflite")
        f.writeText("abc")
        assertEquals("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Sha256.hex(f))
    }
}
