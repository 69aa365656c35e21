package dev.harness.benchmark.core

import java.util.Locale

/** The logcat lines of the contract; the same text as harness.contract.start_line/progress_line/done_line. */
object LogLines {
    fun start(runId: String): String = "HARNESS_START run_id=$runId"

    fun progress(runId: String, phase: String, index: Int, total: Int, wallMs: Double): String =
        "HARNESS_PROGRESS run_id=$runId phase=$phase index=$index total=$total wall_ms=" +
            String.format(Locale.US, "%.3f", wallMs)

    fun done(runId: String, status: String): String = "HARNESS_DONE run_id=$runId status=$status"
}
