package dev.harness.benchmark.core

import org.junit.Assert.assertEquals
import org.junit.Test

class LogLinesTest {
    private val v = Examples.json("log-line-vectors.json")

    @Test
    fun startLines() {
        val a = v.getJSONArray("start")
        for (i in 0 until a.length()) {
            val o = a.getJSONObject(i)
            assertEquals(o.getString("expected"), LogLines.start(o.getString("run_id")))
        }
    }

    @Test
    fun progressLines() {
        val a = v.getJSONArray("progress")
        for (i in 0 until a.length()) {
            val o = a.getJSONObject(i)
            assertEquals(
                o.getString("expected"),
                LogLines.progress(o.getString("run_id"), o.getString("phase"), o.getInt("index"), o.getInt("total"), o.getDouble("wall_ms"))
            )
        }
    }

    @Test
    fun doneLines() {
        val a = v.getJSONArray("done")
        for (i in 0 until a.length()) {
            val o = a.getJSONObject(i)
            assertEquals(o.getString("expected"), LogLines.done(o.getString("run_id"), o.getString("status")))
        }
    }
}
