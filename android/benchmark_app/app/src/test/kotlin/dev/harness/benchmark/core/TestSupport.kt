package dev.harness.benchmark.core

import org.json.JSONObject
import java.io.File
import java.nio.file.Files

/** Finds harness/data/contract/examples: -Dharness.contractExamples, else walk up from the working directory. */
object Examples {
    val dir: File by lazy {
        val prop = System.getProperty("harness.contractExamples")
        if (prop != null && prop.length > 0) {
            File(prop)
        } else {
            var d: File? = File(System.getProperty("user.dir")).absoluteFile
            var found: File? = null
            while (d != null && found == null) {
                val c = File(d, "harness/data/contract/examples")
                if (c.isDirectory) found = c
                d = d.parentFile
            }
            found ?: throw IllegalStateException("harness/data/contract/examples not found; set -Dharness.contractExamples")
        }
    }

    fun text(name: String): String = File(dir, name).readText(Charsets.UTF_8)

    fun json(name: String): JSONObject = JSONObject(text(name))
}

fun tempDir(prefix: String): File = Files.createTempDirectory(prefix).toFile()

/** Where SessionTest leaves the results it produced, for the Python side to validate against the schema. */
fun jvmTestOutputDir(): File? {
    val p = System.getProperty("harness.jvmTestOutput")
    if (p == null || p.length == 0) return null
    val d = File(p)
    d.mkdirs()
    return d
}

class FakeEngine(
    private val outputs: (String) -> EngineOutput,
    override val threadsConfigured: Int = 4,
    override val delegateUsed: String = "cpu"
) : OneshotEngine {
    val prompts = ArrayList<String>()
    var closed = false

    override fun generate(prompt: String): EngineOutput {
        prompts.add(prompt)
        return outputs(prompt)
    }

    override fun close() {
        closed = true
    }
}

class FakePlatform(private val results: File, private val engineFactory: (Spec, File) -> Engine) : Platform {
    val lines = ArrayList<String>()
    var clock = 1_000_000_000L
    var engine: Engine? = null
    var thermal = 0

    override fun log(line: String) {
        lines.add(line)
    }

    override fun monotonicNanos(): Long {
        clock += 250_000_000L // every reading advances 250 ms
        return clock
    }

    override fun epochMillis(): Long = 1795617900123L

    override fun thermalStatus(): Int? = thermal

    var headroom: Double? = 0.42

    override fun thermalHeadroom(): Double? = headroom

    override fun batteryTempC(): Double? = 31.5

    var interactive: Boolean? = true

    override fun isInteractive(): Boolean? = interactive

    override fun cpuCount(): Int? = 8

    override fun memory(): MemoryInfo = MemoryInfo(123456L, 65432L)

    override fun rssKb(): Long? = 40960L

    override fun app(): AppInfo = AppInfo(Contract.APP_PACKAGE, "0.5.0+tflite-2.18.0", 5, Contract.RUNTIME, "2.18.0")

    override fun device(): DeviceInfo = DeviceInfo("jvm/test/fingerprint:1/TEST/1:user/test-keys", "JVM test", true)

    override fun resultDir(): File = results

    override fun openEngine(spec: Spec, modelFile: File): Engine {
        val e = engineFactory(spec, modelFile)
        engine = e
        return e
    }
}
