package dev.harness.benchmark.core

import org.json.JSONArray
import org.json.JSONObject
import java.text.SimpleDateFormat
import java.util.Date
import java.util.Locale
import java.util.TimeZone

data class AppInfo(
    val packageName: String,
    val versionName: String,
    val versionCode: Int,
    val runtime: String,
    val tfliteVersion: String
)

data class DeviceInfo(val fingerprint: String, val model: String, val emulated: Boolean)

data class ModelInfo(val path: String, val sha256: String?, val sizeBytes: Long?)

/** [rssBeforeLoadKb]: resident memory just before the model was loaded (the runtime's own share). */
data class MemoryInfo(val vmhwmKb: Long?, val pssKb: Long?, val rssBeforeLoadKb: Long? = null)

/** One generation record of result.schema.json ($defs/generation). */
data class Generation(
    val phase: String,
    val index: Int,
    val promptIndex: Int,
    val promptUsed: String,
    val wallMs: Double,
    val outputText: String,
    val tokenCount: Int?,
    val promptTokenCount: Int?,
    val thermalStatusBefore: Int?,
    val thermalStatusAfter: Int?,
    val batteryTempCBefore: Double?,
    val batteryTempCAfter: Double?,
    val thermalHeadroomBefore: HeadroomReading = HeadroomReading(null, null),
    val thermalHeadroomAfter: HeadroomReading = HeadroomReading(null, null),
    /** PowerManager.isInteractive() before and after: false = screen off / dozing. */
    val interactiveBefore: Boolean? = null,
    val interactiveAfter: Boolean? = null,
    /** prefill_decode only (null for oneshot): prefill call, each decode call, all token ids. */
    val prefillMs: Double? = null,
    val decodeMs: List<Double>? = null,
    val outputTokenIds: List<Int>? = null
) {
    fun toJson(): JSONObject {
        val o = JSONObject()
        o.put("phase", phase)
        o.put("index", index)
        o.put("prompt_index", promptIndex)
        o.put("prompt_used", promptUsed)
        o.put("wall_ms", wallMs)
        o.put("output_text", outputText)
        o.put("token_count", orNull(tokenCount))
        o.put("prompt_token_count", orNull(promptTokenCount))
        o.put("output_token_ids", orNull(outputTokenIds?.let { JSONArray(it) }))
        o.put("prefill_ms", orNull(prefillMs))
        o.put("decode_ms", orNull(decodeMs?.let { JSONArray(it) }))
        o.put("thermal_status_before", orNull(thermalStatusBefore))
        o.put("thermal_status_after", orNull(thermalStatusAfter))
        o.put("battery_temp_c_before", orNull(batteryTempCBefore))
        o.put("battery_temp_c_after", orNull(batteryTempCAfter))
        o.put("thermal_headroom_before", orNull(thermalHeadroomBefore.value))
        o.put("thermal_headroom_before_age_ms", orNull(thermalHeadroomBefore.ageMs))
        o.put("thermal_headroom_after", orNull(thermalHeadroomAfter.value))
        o.put("thermal_headroom_after_age_ms", orNull(thermalHeadroomAfter.ageMs))
        o.put("interactive_before", orNull(interactiveBefore))
        o.put("interactive_after", orNull(interactiveAfter))
        return o
    }
}

/**
 * The app's answer (result.schema.json). Field order follows the schema, for people reading the file.
 * [loadKind]: what kind of load [loadMs] timed (Contract.LOAD_KIND_WARM); [coldLoadMs] is null in
 * this version (docs/android.md says why); [threadsUsed] is the thread count the interpreter was
 * configured with, read back from the engine; [cpuCount] is Runtime.availableProcessors().
 */
data class BenchmarkResult(
    val runId: String,
    val status: String,
    val error: String?,
    val app: AppInfo,
    val device: DeviceInfo,
    val model: ModelInfo,
    val loadMs: Double?,
    val threadsUsed: Int?,
    val delegateUsed: String?,
    val memory: MemoryInfo,
    val generations: List<Generation>,
    val startedAt: String,
    val finishedAt: String,
    val loadKind: String? = null,
    val coldLoadMs: Double? = null,
    val cpuCount: Int? = null
) {
    fun toJson(): JSONObject {
        val o = JSONObject()
        o.put("contract_version", Contract.CONTRACT_VERSION)
        o.put("run_id", runId)
        o.put("status", status)
        o.put("error", orNull(error))
        val a = JSONObject()
        a.put("package", app.packageName)
        a.put("version_name", app.versionName)
        a.put("version_code", app.versionCode)
        a.put("runtime", app.runtime)
        a.put("tflite_version", app.tfliteVersion)
        o.put("app", a)
        val d = JSONObject()
        d.put("fingerprint", device.fingerprint)
        d.put("model", device.model)
        d.put("emulated", device.emulated)
        o.put("device", d)
        val m = JSONObject()
        m.put("path", model.path)
        m.put("sha256", orNull(model.sha256))
        m.put("size_bytes", orNull(model.sizeBytes))
        o.put("model", m)
        o.put("load_ms", orNull(loadMs))
        o.put("load_kind", orNull(loadKind))
        o.put("cold_load_ms", orNull(coldLoadMs))
        o.put("threads_used", orNull(threadsUsed))
        o.put("cpu_count", orNull(cpuCount))
        o.put("delegate_used", orNull(delegateUsed))
        val mem = JSONObject()
        mem.put("vmhwm_kb", orNull(memory.vmhwmKb))
        mem.put("pss_kb", orNull(memory.pssKb))
        mem.put("rss_before_load_kb", orNull(memory.rssBeforeLoadKb))
        o.put("memory", mem)
        val gens = JSONArray()
        for (g in generations) gens.put(g.toJson())
        o.put("generations", gens)
        o.put("started_at", startedAt)
        o.put("finished_at", finishedAt)
        return o
    }

    fun toJsonString(): String = toJson().toString(2) + "\n"
}

/** org.json drops a key whose value is Java null; JSON null is JSONObject.NULL. */
fun orNull(v: Any?): Any = v ?: JSONObject.NULL

/** ISO 8601 in UTC with milliseconds, like Python's datetime.isoformat(timespec="milliseconds"). */
object Timestamps {
    fun iso(epochMillis: Long): String {
        val f = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSS'+00:00'", Locale.US)
        f.timeZone = TimeZone.getTimeZone("UTC")
        return f.format(Date(epochMillis))
    }
}
