package dev.harness.benchmark

import android.os.PowerManager
import dev.harness.benchmark.core.Engine
import dev.harness.benchmark.core.EngineOutput
import dev.harness.benchmark.core.OneshotEngine
import dev.harness.benchmark.core.Sha256
import dev.harness.benchmark.core.jvmTestOutputDir
import org.json.JSONObject
import org.robolectric.annotation.Implementation
import org.robolectric.annotation.Implements
import org.robolectric.shadows.ShadowLog
import org.robolectric.shadows.ShadowPowerManager
import java.io.File
import java.nio.file.Files
import java.util.concurrent.atomic.AtomicInteger

/**
 * Robolectric 4.17's ShadowPowerManager shadows the thermal status and isInteractive but not
 * getThermalHeadroom (API 30); this shadow adds it and counts the calls, so a test can see how
 * often the app really asks.
 */
@Implements(PowerManager::class)
class ShadowHeadroomPowerManager : ShadowPowerManager() {
    @Implementation
    protected fun getThermalHeadroom(forecastSeconds: Int): Float {
        calls.incrementAndGet()
        return headroom
    }

    companion object {
        @Volatile
        @JvmStatic
        var headroom: Float = Float.NaN
        val calls = AtomicInteger()

        fun reset(value: Float) {
            headroom = value
            calls.set(0)
        }
    }
}

/** A one-shot engine that echoes the prompt, or runs [behaviour] first (to throw or to block). */
class FakeOneshot(private val behaviour: () -> Unit = {}) : OneshotEngine {
    override val threadsConfigured: Int = 3
    override val delegateUsed: String = "cpu"
    val prompts = ArrayList<String>()
    var closed = false

    override fun generate(prompt: String): EngineOutput {
        behaviour()
        prompts.add(prompt)
        return EngineOutput(1_234_500_000L, "$prompt, generated", 100, 6)
    }

    override fun close() {
        closed = true
    }
}

/** A model file, its spec file and the run id, in a fresh directory, as the host pushes them. */
class PushedRun(val runId: String, specChange: (JSONObject) -> Unit = {}) {
    val dir: File = Files.createTempDirectory("robo-run").toFile()
    val model = File(dir, "models/m.tflite").also {
        it.parentFile.mkdirs()
        it.writeBytes("a model for $runId".toByteArray())
    }
    val specFile = File(dir, "specs/$runId.json")

    init {
        val o = dev.harness.benchmark.core.Examples.json("spec-oneshot.json")
        o.put("run_id", runId)
        o.put("model_path", model.path)
        o.put("model_sha256", Sha256.hex(model))
        o.put("warmup_runs", 1)
        o.put("measured_runs", 2)
        specChange(o)
        specFile.parentFile.mkdirs()
        specFile.writeText(o.toString())
    }
}

/** The HarnessBench lines Robolectric captured, as `logcat -s HarnessBench` would show their text. */
fun harnessLogLines(): List<String> = ShadowLog.getLogsForTag(dev.harness.benchmark.core.Contract.LOG_TAG).map { it.msg }

/** Leaves a result and its log lines where tests/e2e/test_android_app_jvm.py checks them. */
fun leaveForHost(runId: String, result: File?, lines: List<String>) {
    val out = jvmTestOutputDir() ?: return
    result?.let { File(out, "$runId.json").writeText(it.readText()) }
    File(out, "$runId.logcat").writeText(lines.joinToString("\n", postfix = "\n"))
}

/** An engine opener that counts how often the app loads a model. */
class CountingOpener(private val make: () -> Engine) : (dev.harness.benchmark.core.Spec, File) -> Engine {
    val opened = AtomicInteger()

    override fun invoke(spec: dev.harness.benchmark.core.Spec, file: File): Engine {
        opened.incrementAndGet()
        return make()
    }
}
