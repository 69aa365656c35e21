package dev.harness.benchmark

import android.app.Activity
import android.os.Bundle
import android.os.Process
import android.util.Log
import android.view.WindowManager
import dev.harness.benchmark.core.BenchmarkSession
import dev.harness.benchmark.core.Contract

/**
 * Headless benchmark activity (docs/app-contract.md). Started by the host with
 *
 *     am start -S -W -n dev.harness.benchmark/.BenchmarkActivity --es spec_path P --es run_id R
 *
 * It shows nothing (translucent theme) but stays a foreground activity while it works, so the
 * scheduler treats the benchmark like an app in use, as TFLite's own benchmark app does. The work
 * runs on one worker thread; the UI thread only starts it and finishes the activity afterwards.
 * All of the contract's logic lives in [BenchmarkSession] (plain Kotlin, tested on the JVM).
 */
class BenchmarkActivity : Activity() {
    @Volatile
    private var worker: Thread? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        if (worker != null) return
        val specPath = intent?.getStringExtra(Contract.EXTRA_SPEC_PATH)
        val runId = intent?.getStringExtra(Contract.EXTRA_RUN_ID)
        val platform = AndroidPlatform(applicationContext)
        val thread = Thread({
            Process.setThreadPriority(Process.THREAD_PRIORITY_DEFAULT)
            try {
                BenchmarkSession(platform).run(specPath, runId)
            } catch (err: Throwable) {
                // BenchmarkSession catches everything itself; this is the last line of defence.
                Log.e(Contract.LOG_TAG, "HARNESS_ERROR unexpected: $err")
            } finally {
                runOnUiThread { finishAndRemoveTask() }
            }
        }, "harness-benchmark")
        worker = thread
        thread.start()
    }

    override fun onDestroy() {
        window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        super.onDestroy()
    }
}
