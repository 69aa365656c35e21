package dev.harness.benchmark.core

import java.io.Closeable
import java.io.File

/** What one interpreter call of the one-shot graph gave: its monotonic duration and the model's outputs. */
class EngineOutput(
    val wallNanos: Long,
    val text: String,
    val tokenCount: Int?,
    val promptTokenCount: Int?
)

/** A loaded model: [OneshotEngine] or [PrefillDecodeEngine], by the spec's export. */
interface Engine : Closeable {
    /**
     * The thread count the interpreter was configured with (Interpreter.Options, read back after
     * the load). TFLite reports no count of threads its kernels actually ran on.
     */
    val threadsConfigured: Int
    val delegateUsed: String
}

/** The runbook's string graph. [generate] times the interpreter call alone (nothing else inside the clock). */
interface OneshotEngine : Engine {
    fun generate(prompt: String): EngineOutput
}

/** Everything the session needs from Android; the JVM tests give a fake one. */
interface Platform {
    fun log(line: String)
    fun monotonicNanos(): Long
    fun epochMillis(): Long
    fun thermalStatus(): Int?
    /** PowerManager.getThermalHeadroom(0): 1.0 = the severe-throttling threshold; null if unknown. */
    fun thermalHeadroom(): Double?
    fun batteryTempC(): Double?
    /** PowerManager.isInteractive(): false when the screen is off or the device dozes; null if unknown. */
    fun isInteractive(): Boolean?
    /** The CPUs the app's process may use (Runtime.availableProcessors()). */
    fun cpuCount(): Int?
    fun memory(): MemoryInfo
    /** Resident memory now, in kB (null if unknown). */
    fun rssKb(): Long?
    fun app(): AppInfo
    fun device(): DeviceInfo
    fun resultDir(): File

    /**
     * Loads [modelFile] for [spec]: a [OneshotEngine] (with the Flex delegate: TF Select + TF Text
     * ops) for export oneshot, a [PrefillDecodeEngine] for prefill_decode; throws on failure.
     */
    fun openEngine(spec: Spec, modelFile: File): Engine
}

class Outcome(val runId: String?, val status: String, val error: String?, val resultFile: File?)

/** A failure with a message meant for the result's one-line `error`. */
class BenchmarkFailure(message: String) : Exception(message)

/**
 * One run of the contract (docs/app-contract.md section 3), with no Android dependency:
 * start line, spec, model check and load, warmup and measured generations, atomic result, done line.
 * Any failure after the start line still writes a result with status "error" and logs the done line;
 * generations finished before the failure are kept.
 */
class BenchmarkSession(private val platform: Platform) {

    fun run(specPath: String?, runId: String?): Outcome {
        if (!Contract.isValidRunId(runId)) {
            // No safe file name and no id the host could be waiting for: say so and stop.
            platform.log("HARNESS_ERROR missing or invalid extra ${Contract.EXTRA_RUN_ID}; expected ${Contract.RUN_ID_PATTERN}")
            return Outcome(null, Contract.STATUS_ERROR, "missing or invalid run_id", null)
        }
        val rid = runId!!
        platform.log(LogLines.start(rid))
        val startedAt = Timestamps.iso(platform.epochMillis())
        val resultDir = platform.resultDir()
        ResultWriter.resultFile(resultDir, rid).delete() // never leave a stale result for this id

        var model = ModelInfo("", null, null)
        var loadMs: Double? = null
        var loadKind: String? = null
        var threadsUsed: Int? = null
        var delegateUsed: String? = null
        var memory: MemoryInfo? = null
        var rssBeforeLoad: Long? = null
        val generations = ArrayList<Generation>()
        var error: String? = null
        var engine: Engine? = null
        try {
            if (specPath == null || specPath.length == 0) throw BenchmarkFailure("missing extra ${Contract.EXTRA_SPEC_PATH}")
            val specFile = File(specPath)
            if (!specFile.isFile) throw BenchmarkFailure("spec file not found: $specPath")
            val text = try {
                specFile.readText(Charsets.UTF_8)
            } catch (e: Exception) {
                throw BenchmarkFailure("cannot read spec file $specPath: ${e.message}")
            }
            val spec = SpecParser.parse(text)
            model = ModelInfo(spec.modelPath, null, null)
            if (spec.runId != rid) throw BenchmarkFailure("spec run_id ${spec.runId} differs from the launch extra run_id $rid")
            val modelFile = File(spec.modelPath)
            if (!modelFile.isFile) throw BenchmarkFailure("model not found: ${spec.modelPath}")
            if (!modelFile.canRead()) throw BenchmarkFailure("model not readable by the app: ${spec.modelPath}")
            model = ModelInfo(spec.modelPath, null, modelFile.length())
            val sha = Sha256.hex(modelFile)
            model = ModelInfo(spec.modelPath, sha, modelFile.length())
            if (sha != spec.modelSha256) {
                throw BenchmarkFailure("model sha256 mismatch: spec says ${spec.modelSha256}, the file on the device has $sha")
            }

            rssBeforeLoad = try {
                platform.rssKb()
            } catch (t: Throwable) {
                null
            }
            val t0 = platform.monotonicNanos()
            val e = try {
                platform.openEngine(spec, modelFile)
            } catch (t: Throwable) {
                throw BenchmarkFailure("model failed to load: ${describe(t)}")
            }
            engine = e
            loadMs = (platform.monotonicNanos() - t0) / 1.0e6
            // The sha256 check above read the whole file just before: the pages were in the cache.
            loadKind = Contract.LOAD_KIND_WARM
            threadsUsed = e.threadsConfigured
            delegateUsed = e.delegateUsed
            val generate = generator(spec, e)

            runPhase(rid, spec, generate, Contract.PHASE_WARMUP, spec.warmupRuns, generations)
            runPhase(rid, spec, generate, Contract.PHASE_MEASURED, spec.measuredRuns, generations)
        } catch (e: BenchmarkFailure) {
            error = e.message
        } catch (e: SpecException) {
            error = e.message
        } catch (t: Throwable) {
            error = describe(t)
        } finally {
            memory = safeMemory().copy(rssBeforeLoadKb = rssBeforeLoad)
            try {
                engine?.close()
            } catch (t: Throwable) {
                platform.log("HARNESS_WARN closing the interpreter failed: ${describe(t)}")
            }
        }

        val status = if (error == null) Contract.STATUS_OK else Contract.STATUS_ERROR
        val oneLineError = if (error == null) null else oneLine(error)
        var resultFile: File? = null
        var finalStatus = status
        try {
            val result = BenchmarkResult(
                rid, status, oneLineError, platform.app(), platform.device(), model, loadMs,
                threadsUsed, delegateUsed, memory ?: MemoryInfo(null, null), generations, startedAt,
                Timestamps.iso(platform.epochMillis()), loadKind, null, safeCpuCount()
            )
            resultFile = ResultWriter.writeAtomic(resultDir, rid, result.toJsonString())
        } catch (t: Throwable) {
            platform.log("HARNESS_ERROR run_id=$rid cannot write the result: ${describe(t)}")
            finalStatus = Contract.STATUS_ERROR
        }
        if (oneLineError != null) platform.log("HARNESS_ERROR run_id=$rid $oneLineError")
        platform.log(LogLines.done(rid, finalStatus))
        return Outcome(rid, finalStatus, oneLineError, resultFile)
    }

    /** What one generation gives, whatever the export: the record's model-dependent fields. */
    private class Generated(
        val wallMs: Double,
        val text: String,
        val tokenCount: Int?,
        val promptTokenCount: Int?,
        val prefillMs: Double? = null,
        val decodeMs: List<Double>? = null,
        val outputTokenIds: List<Int>? = null
    )

    private fun generator(spec: Spec, engine: Engine): (String, Int) -> Generated = when (engine) {
        is OneshotEngine -> { prompt, _ ->
            val o = engine.generate(prompt)
            Generated(o.wallNanos / 1.0e6, o.text, o.tokenCount, o.promptTokenCount)
        }
        is PrefillDecodeEngine -> {
            // The model's L where it states one (a stateful model taking the prompt's length does
            // not); the loop runs to the spec's, as the host's PrefillDecodeRunner does.
            val modelLength = engine.maxLength
            if (modelLength != null && modelLength != spec.maxLength) {
                throw BenchmarkFailure("model max length $modelLength != spec max length ${spec.maxLength}")
            }
            val ids = spec.promptTokenIds ?: throw BenchmarkFailure("prefill_decode needs prompt_token_ids")
            val f: (String, Int) -> Generated = { _, promptIndex ->
                val r = GreedyDecoder.run(engine, ids[promptIndex], spec.maxLength) { platform.monotonicNanos() }
                // output_text stays empty: the host detokenizes output_token_ids (harness/run/spec.py).
                Generated(
                    r.wallNanos / 1.0e6, "", r.outputTokenIds.size, r.promptTokenCount,
                    r.prefillNanos / 1.0e6, r.decodeNanos.map { it / 1.0e6 }, r.outputTokenIds
                )
            }
            f
        }
        else -> throw BenchmarkFailure("the engine for export ${spec.export} is a ${engine.javaClass.simpleName}")
    }

    private fun runPhase(rid: String, spec: Spec, generate: (String, Int) -> Generated, phase: String, total: Int, out: MutableList<Generation>) {
        for (k in 0 until total) {
            val promptIndex = k % spec.prompts.size
            val prompt = ContextWindow.apply(spec.prompts[promptIndex], spec.contextWindowWords)
            val thermalBefore = safe { platform.thermalStatus() }
            val headroomBefore = headroom.sample()
            val batteryBefore = safe { platform.batteryTempC() }
            val interactiveBefore = safe { platform.isInteractive() }
            val o = try {
                generate(prompt, promptIndex)
            } catch (t: Throwable) {
                throw BenchmarkFailure("generation failed ($phase #$k): ${describe(t)}")
            }
            out.add(
                Generation(
                    phase, k, promptIndex, prompt, o.wallMs, o.text, o.tokenCount, o.promptTokenCount,
                    thermalBefore, safe { platform.thermalStatus() }, batteryBefore, safe { platform.batteryTempC() },
                    headroomBefore, headroom.sample(), interactiveBefore, safe { platform.isInteractive() },
                    o.prefillMs, o.decodeMs, o.outputTokenIds
                )
            )
            platform.log(LogLines.progress(rid, phase, k, total, o.wallMs))
        }
    }

    /** Thermal headroom read at most once a second (review C1); reused readings carry their age. */
    private val headroom = ThermalHeadroomSampler({ platform.thermalHeadroom() }, { platform.monotonicNanos() })

    private fun <T> safe(read: () -> T?): T? = try {
        read()
    } catch (t: Throwable) {
        null
    }

    private fun safeCpuCount(): Int? = safe { platform.cpuCount() }?.takeIf { it > 0 }

    private fun safeMemory(): MemoryInfo = try {
        platform.memory()
    } catch (t: Throwable) {
        MemoryInfo(null, null)
    }

    companion object {
        fun describe(t: Throwable): String {
            val msg = t.message
            val name = t.javaClass.simpleName
            return oneLine(if (msg.isNullOrEmpty()) name else "$name: $msg")
        }
    }
}
