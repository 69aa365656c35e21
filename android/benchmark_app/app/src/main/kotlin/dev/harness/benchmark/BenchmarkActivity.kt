package dev.harness.benchmark

import android.app.Activity
import android.os.Build
import android.os.Bundle
import android.os.Handler
import android.os.Looper
import android.os.Process
import android.util.Log
import android.view.WindowManager
import dev.harness.benchmark.core.BenchmarkSession
import dev.harness.benchmark.core.Contract
import dev.harness.benchmark.core.Engine
import dev.harness.benchmark.core.Spec
import java.io.File
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Headless benchmark activity (docs/app-contract.md). Started by the host with
 *
 *     am start -S -W -n dev.harness.benchmark/.BenchmarkActivity --es spec_path P --es run_id R
 *
 * It shows nothing (translucent theme) but stays a foreground activity while it works, so the
 * scheduler treats the benchmark like an app in use, as TFLite's own benchmark app does. It turns
 * the screen on, shows over the keyguard and keeps the screen on (review B2): an app behind the
 * keyguard or with the screen off is not the top app and runs slower. The work runs on one worker
 * thread; the UI thread only starts it and finishes the activity afterwards.
 *
 * One session per process (review D8): the guard is process-wide, so an activity re-created by a
 * configuration change that configChanges does not cover does not start a second session; the
 * session finishes whichever instance is current when it ends.
 * All of the contract's logic lives in [BenchmarkSession] (plain Kotlin, tested on the JVM).
 */
class BenchmarkActivity : Activity() {

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        keepAwakeAndInFront()
        current = this
        if (!running.compareAndSet(false, true)) {
            Log.w(Contract.LOG_TAG, "HARNESS_WARN a session is already running in this process; not starting another")
            return
        }
        val specPath = intent?.getStringExtra(Contract.EXTRA_SPEC_PATH)
        val runId = intent?.getStringExtra(Contract.EXTRA_RUN_ID)
        val opener = engineOpener
        val platform = if (opener != null) AndroidPlatform(applicationContext, opener) else AndroidPlatform(applicationContext)
        val thread = Thread({
            Process.setThreadPriority(Process.THREAD_PRIORITY_DEFAULT)
            try {
                BenchmarkSession(platform).run(specPath, runId)
            } catch (err: Throwable) {
                // BenchmarkSession catches everything itself; this is the last line of defence.
                Log.e(Contract.LOG_TAG, "HARNESS_ERROR unexpected: $err")
            } finally {
                running.set(false)
                Handler(Looper.getMainLooper()).post { current?.finishAndRemoveTask() }
            }
        }, "harness-benchmark")
        worker = thread
        thread.start()
    }

    @Suppress("DEPRECATION")
    private fun keepAwakeAndInFront() {
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.O_MR1) {
            setShowWhenLocked(true)
            setTurnScreenOn(true)
        } else {
            window.addFlags(WindowManager.LayoutParams.FLAG_SHOW_WHEN_LOCKED or WindowManager.LayoutParams.FLAG_TURN_SCREEN_ON)
        }
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
    }

    override fun onDestroy() {
        window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        if (current === this) current = null
        super.onDestroy()
    }

    companion object {
        /** True while a session runs in this process (any activity instance). */
        private val running = AtomicBoolean(false)

        /** The live activity instance, finished when the session ends. */
        @Volatile
        private var current: BenchmarkActivity? = null

        /** Loads the model; null = TensorFlow Lite. Tests set a fake engine here. */
        @Volatile
        @JvmStatic
        var engineOpener: ((Spec, File) -> Engine)? = null

        /** The last session's worker thread (tests join it). */
        @Volatile
        @JvmStatic
        var worker: Thread? = null
            private set

        @JvmStatic
        fun isSessionRunning(): Boolean = running.get()
    }
}
