package dev.harness.benchmark

import android.content.Context
import android.content.Intent
import android.os.BatteryManager
import android.os.Looper
import android.os.PowerManager
import android.view.WindowManager
import org.robolectric.RuntimeEnvironment
import dev.harness.benchmark.core.Contract
import dev.harness.benchmark.core.LogLines
import dev.harness.benchmark.core.Examples
import org.json.JSONObject
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.Robolectric
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.android.controller.ActivityController
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowLog
import java.io.File
import java.nio.file.FileSystems
import java.nio.file.StandardWatchEventKinds
import java.nio.file.WatchEvent
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit

/**
 * BenchmarkActivity on the JVM (Robolectric, Android 15), started with exactly the extras the
 * host's `am start` sends (harness/devices/android/app_client.py run_block: --es spec_path P --es run_id R), with a fake
 * engine behind the Engine interface (TFLite's native library does not load on the JVM). The
 * platform is the real AndroidPlatform: thermal status, headroom and isInteractive come from the
 * shadowed PowerManager, the battery temperature from the sticky ACTION_BATTERY_CHANGED intent.
 */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], shadows = [ShadowHeadroomPowerManager::class])
class BenchmarkActivityTest {
    private val context: Context = RuntimeEnvironment.getApplication()

    @Before
    fun setUp() {
        ShadowLog.clear()
        ShadowHeadroomPowerManager.reset(0.37f)
        val power = context.getSystemService(Context.POWER_SERVICE) as PowerManager
        shadowOf(power).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_MODERATE)
        shadowOf(power).setIsInteractive(true)
        context.sendStickyBroadcast(
            Intent(Intent.ACTION_BATTERY_CHANGED).putExtra(BatteryManager.EXTRA_TEMPERATURE, 315)
        )
    }

    @After
    fun tearDown() {
        BenchmarkActivity.engineOpener = null
    }

    /** `am start ... --es spec_path P --es run_id R`: two string extras, nothing else. */
    private fun launch(specPath: String?, runId: String?): ActivityController<BenchmarkActivity> {
        val intent = Intent()
        if (specPath != null) intent.putExtra(Contract.EXTRA_SPEC_PATH, specPath)
        if (runId != null) intent.putExtra(Contract.EXTRA_RUN_ID, runId)
        return Robolectric.buildActivity(BenchmarkActivity::class.java, intent).create().start().resume()
    }

    /** Waits for the session's worker, then lets the main looper finish the activity. */
    private fun awaitSession() {
        val w = BenchmarkActivity.worker
        assertNotNull("a session was started", w)
        w!!.join(30_000)
        assertFalse("the session ended", w.isAlive)
        shadowOf(Looper.getMainLooper()).idle()
        assertFalse(BenchmarkActivity.isSessionRunning())
    }

    private fun resultFile(runId: String): File = File(AndroidPlatform(context).resultDir(), "$runId.json")

    private fun finish(runId: String): JSONObject {
        val f = resultFile(runId)
        val lines = harnessLogLines()
        leaveForHost(runId, f.takeIf { it.isFile }, lines)
        assertTrue("result $f written", f.isFile)
        assertFalse(File(f.path + ".tmp").exists())
        val doc = JSONObject(f.readText())
        // The lines the host waits for, as logcat shows them, in order.
        assertEquals(LogLines.start(runId), lines.first())
        assertEquals(LogLines.done(runId, doc.getString("status")), lines.last())
        return doc
    }

    @Test
    fun aRunWithTheHostsExtrasWritesAValidResultAtomicallyAndFinishes() {
        val run = PushedRun("robo-ok")
        val engine = FakeOneshot()
        val opener = CountingOpener { engine }
        BenchmarkActivity.engineOpener = opener
        val dir = AndroidPlatform(context).resultDir().also { it.mkdirs() }
        val watch = FileSystems.getDefault().newWatchService()
        dir.toPath().register(watch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_DELETE)

        val controller = launch(run.specFile.path, run.runId)
        val activity = controller.get()
        // Awake and in front (review B2).
        assertTrue(shadowOf(activity).showWhenLocked)
        assertTrue(shadowOf(activity).turnScreenOn)
        assertTrue(shadowOf(activity.window).getFlag(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON))
        awaitSession()
        assertTrue("the activity finishes itself", activity.isFinishing)

        val r = finish(run.runId)
        assertEquals(r.optString("error"), "ok", r.getString("status"))
        assertEquals(Contract.CONTRACT_VERSION, r.getInt("contract_version"))
        assertEquals(1, opener.opened.get())
        assertTrue(engine.closed)
        assertEquals(BuildConfig.VERSION_NAME, r.getJSONObject("app").getString("version_name"))
        assertEquals(BuildConfig.VERSION_CODE, r.getJSONObject("app").getInt("version_code"))
        assertEquals(3, r.getInt("threads_used"))
        assertEquals(Runtime.getRuntime().availableProcessors(), r.getInt("cpu_count"))
        assertEquals("warm", r.getString("load_kind"))
        val gens = r.getJSONArray("generations")
        assertEquals(3, gens.length())
        for (i in 0 until gens.length()) {
            val g = gens.getJSONObject(i)
            assertEquals(PowerManager.THERMAL_STATUS_MODERATE, g.getInt("thermal_status_before"))
            assertEquals(PowerManager.THERMAL_STATUS_MODERATE, g.getInt("thermal_status_after"))
            assertEquals(31.5, g.getDouble("battery_temp_c_before"), 1e-9)
            assertEquals(31.5, g.getDouble("battery_temp_c_after"), 1e-9)
            assertEquals(0.37, g.getDouble("thermal_headroom_before"), 1e-6)
            assertEquals(0.37, g.getDouble("thermal_headroom_after"), 1e-6)
            assertTrue(g.getBoolean("interactive_before") && g.getBoolean("interactive_after"))
            assertEquals(1234.5, g.getDouble("wall_ms"), 1e-9)
        }
        // Robolectric's clock stands still while the worker runs: one real headroom call, every
        // later value a reused reading marked by its age (review C1: never NaN from asking too often).
        assertEquals(1, ShadowHeadroomPowerManager.calls.get())
        assertEquals(0.0, gens.getJSONObject(0).getDouble("thermal_headroom_before_age_ms"), 0.0)
        assertTrue(gens.getJSONObject(2).getDouble("thermal_headroom_after_age_ms") > 0.0)

        // Atomic: the result appeared by a rename of <id>.json.tmp, never written in place.
        val events = ArrayList<String>()
        val deadline = System.currentTimeMillis() + 5_000
        while (System.currentTimeMillis() < deadline && events.none { it == "ENTRY_DELETE robo-ok.json.tmp" }) {
            val key = watch.poll(200, TimeUnit.MILLISECONDS) ?: continue
            for (e in key.pollEvents()) events.add("${e.kind().name()} ${(e as WatchEvent<*>).context()}")
            key.reset()
        }
        watch.close()
        assertTrue(events.toString(), "ENTRY_CREATE robo-ok.json.tmp" in events)
        assertTrue(events.toString(), "ENTRY_DELETE robo-ok.json.tmp" in events)
        assertTrue(events.toString(), "ENTRY_CREATE robo-ok.json" in events)
        assertFalse(events.toString(), "ENTRY_MODIFY robo-ok.json" in events)
        assertTrue(events.indexOf("ENTRY_CREATE robo-ok.json") > events.indexOf("ENTRY_CREATE robo-ok.json.tmp"))
    }

    @Test
    fun screenOffIsRecorded() {
        val power = context.getSystemService(Context.POWER_SERVICE) as PowerManager
        shadowOf(power).setIsInteractive(false)
        val run = PushedRun("robo-screen-off")
        BenchmarkActivity.engineOpener = CountingOpener { FakeOneshot() }
        launch(run.specFile.path, run.runId)
        awaitSession()
        val g = finish(run.runId).getJSONArray("generations").getJSONObject(0)
        assertFalse(g.getBoolean("interactive_before"))
        assertFalse(g.getBoolean("interactive_after"))
    }

    @Test
    fun aBadSpecIsAnErrorResultNotACrash() {
        val run = PushedRun("robo-bad-spec") { it.put("contract_version", 1) }
        val opener = CountingOpener { FakeOneshot() }
        BenchmarkActivity.engineOpener = opener
        val activity = launch(run.specFile.path, run.runId).get()
        awaitSession()
        assertTrue(activity.isFinishing)
        val r = finish(run.runId)
        assertEquals("error", r.getString("status"))
        assertTrue(r.getString("error"), r.getString("error").contains("contract_version"))
        assertEquals(0, opener.opened.get())
        assertTrue(harnessLogLines().any { it.startsWith("HARNESS_ERROR run_id=robo-bad-spec") })
    }

    @Test
    fun aMissingModelIsAnErrorResult() {
        val run = PushedRun("robo-no-model")
        run.model.delete()
        BenchmarkActivity.engineOpener = CountingOpener { FakeOneshot() }
        launch(run.specFile.path, run.runId)
        awaitSession()
        val r = finish(run.runId)
        assertEquals("error", r.getString("status"))
        assertTrue(r.getString("error"), r.getString("error").startsWith("model not found"))
    }

    @Test
    fun anEngineThatThrowsIsAnErrorResultWithTheFinishedGenerations() {
        val run = PushedRun("robo-throws")
        var n = 0
        val engine = FakeOneshot { n += 1; if (n == 2) throw IllegalStateException("native crash stand-in") }
        BenchmarkActivity.engineOpener = CountingOpener { engine }
        launch(run.specFile.path, run.runId)
        awaitSession()
        val r = finish(run.runId)
        assertEquals("error", r.getString("status"))
        assertEquals("generation failed (measured #0): IllegalStateException: native crash stand-in", r.getString("error"))
        assertEquals(1, r.getJSONArray("generations").length())
        assertTrue(engine.closed)
    }

    @Test
    fun aModelThatFailsToLoadIsAnErrorResult() {
        val run = PushedRun("robo-load")
        BenchmarkActivity.engineOpener = CountingOpener { throw UnsatisfiedLinkError("dlopen failed: libtensorflowlite_flex_jni.so") }
        launch(run.specFile.path, run.runId)
        awaitSession()
        val r = finish(run.runId)
        assertEquals("model failed to load: UnsatisfiedLinkError: dlopen failed: libtensorflowlite_flex_jni.so", r.getString("error"))
    }

    @Test
    fun aConfigurationChangeDoesNotStartASecondSession() {
        val run = PushedRun("robo-recreate")
        val entered = CountDownLatch(1)
        val release = CountDownLatch(1)
        val engine = FakeOneshot {
            entered.countDown()
            release.await(30, TimeUnit.SECONDS)
        }
        val opener = CountingOpener { engine }
        BenchmarkActivity.engineOpener = opener
        val controller = launch(run.specFile.path, run.runId)
        val first = BenchmarkActivity.worker
        assertTrue("the session is generating", entered.await(30, TimeUnit.SECONDS))
        // Robolectric has no merged manifest here, so configChanges does not apply: the change
        // re-creates the activity, the worst case the process-wide guard is for.
        controller.recreate()
        val second = controller.get()
        assertTrue(BenchmarkActivity.isSessionRunning())
        assertTrue("no second worker", BenchmarkActivity.worker === first)
        release.countDown()
        awaitSession()
        assertTrue("the session finishes the re-created activity", second.isFinishing)
        val r = finish(run.runId)
        assertEquals("ok", r.getString("status"))
        assertEquals(1, opener.opened.get())
        assertEquals(1, harnessLogLines().count { it == LogLines.start(run.runId) })
        assertTrue(ShadowLog.getLogsForTag(Contract.LOG_TAG).any { it.msg.startsWith("HARNESS_WARN a session is already running") })
    }

    @Test
    fun logLinesFollowTheHostsVectors() {
        // The lines the activity logged are the ones the host's parser is tested with.
        val run = PushedRun("r1") { it.put("warmup_runs", 1); it.put("measured_runs", 1) }
        BenchmarkActivity.engineOpener = CountingOpener { FakeOneshot() }
        launch(run.specFile.path, run.runId)
        awaitSession()
        val lines = harnessLogLines()
        leaveForHost(run.runId, resultFile(run.runId), lines)
        val v = Examples.json("log-line-vectors.json")
        val start = v.getJSONArray("start").getJSONObject(0)
        assertEquals(start.getString("run_id"), run.runId)
        assertEquals(start.getString("expected"), lines.first())
        val done = (0 until v.getJSONArray("done").length()).map { v.getJSONArray("done").getJSONObject(it) }
            .first { it.getString("status") == "ok" }
        assertEquals(done.getString("expected"), lines.last())
        // Progress lines: the vectors' shape (the host's regex), with this run's values.
        val progress = lines.filter { it.startsWith("HARNESS_PROGRESS") }
        assertEquals(
            listOf(
                "HARNESS_PROGRESS run_id=r1 phase=warmup index=0 total=1 wall_ms=1234.500",
                "HARNESS_PROGRESS run_id=r1 phase=measured index=0 total=1 wall_ms=1234.500"
            ),
            progress
        )
        val shape = Regex("HARNESS_PROGRESS run_id=[A-Za-z0-9_.-]+ phase=(warmup|measured) index=\\d+ total=\\d+ wall_ms=[0-9.]+")
        val vectors = v.getJSONArray("progress")
        for (i in 0 until vectors.length()) assertTrue(shape.matches(vectors.getJSONObject(i).getString("expected")))
        assertTrue(progress.all { shape.matches(it) })
    }
}
