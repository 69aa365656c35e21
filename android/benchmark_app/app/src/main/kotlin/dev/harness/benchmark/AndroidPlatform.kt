package dev.harness.benchmark

import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Build
import android.os.Debug
import android.os.PowerManager
import android.os.SystemClock
import android.util.Log
import dev.harness.benchmark.core.AppInfo
import dev.harness.benchmark.core.Contract
import dev.harness.benchmark.core.DeviceInfo
import dev.harness.benchmark.core.Engine
import dev.harness.benchmark.core.MemoryInfo
import dev.harness.benchmark.core.Platform
import dev.harness.benchmark.core.ProcStatus
import dev.harness.benchmark.core.Spec
import java.io.File

/**
 * The session's view of the phone: logcat, clocks, thermal, battery and screen state, memory,
 * storage. [opener] loads the model; tests replace it with a fake engine (TFLite's native library
 * does not load on the JVM).
 */
class AndroidPlatform(
    private val context: Context,
    private val opener: (Spec, File) -> Engine = { spec, file -> TfliteModels.open(file, spec.threads, spec.export, spec.delegate) }
) : Platform {
    private val power = context.getSystemService(Context.POWER_SERVICE) as PowerManager?

    override fun log(line: String) {
        if (line.startsWith("HARNESS_ERROR")) Log.e(Contract.LOG_TAG, line) else Log.i(Contract.LOG_TAG, line)
    }

    override fun monotonicNanos(): Long = SystemClock.elapsedRealtimeNanos()

    override fun epochMillis(): Long = System.currentTimeMillis()

    /** PowerManager.THERMAL_STATUS_* (0 none .. 6 shutdown); null before API 29. */
    override fun thermalStatus(): Int? {
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.Q || power == null) return null
        val s = power.currentThermalStatus
        return if (s in 0..6) s else null
    }

    /**
     * Thermal headroom now (forecast 0 s), API 30+: 1.0 is where severe throttling starts.
     * NaN (asked too often, or no thermal HAL support) becomes null.
     */
    override fun thermalHeadroom(): Double? {
        if (Build.VERSION.SDK_INT < Build.VERSION_CODES.R || power == null) return null
        val h = try {
            power.getThermalHeadroom(0)
        } catch (t: Throwable) {
            Float.NaN
        }
        return if (h.isNaN()) null else h.toDouble()
    }

    /** PowerManager.isInteractive (API 20): false when the screen is off or the device dozes. */
    override fun isInteractive(): Boolean? = power?.isInteractive

    override fun cpuCount(): Int? = Runtime.getRuntime().availableProcessors()

    /** Battery temperature in °C from the sticky ACTION_BATTERY_CHANGED intent (tenths of a degree). */
    override fun batteryTempC(): Double? {
        val i: Intent? = try {
            context.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))
        } catch (t: Throwable) {
            null
        }
        if (i == null) return null
        val tenths = i.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, Int.MIN_VALUE)
        return if (tenths == Int.MIN_VALUE) null else tenths / 10.0
    }

    override fun rssKb(): Long? = try {
        ProcStatus.vmRssKb(File("/proc/self/status").readText())
    } catch (t: Throwable) {
        null
    }

    override fun memory(): MemoryInfo {
        val hwm = try {
            ProcStatus.vmHwmKb(File("/proc/self/status").readText())
        } catch (t: Throwable) {
            null
        }
        val pss = try {
            Debug.getPss()
        } catch (t: Throwable) {
            0L
        }
        return MemoryInfo(hwm, if (pss > 0) pss else null)
    }

    override fun app(): AppInfo = AppInfo(
        BuildConfig.APPLICATION_ID, BuildConfig.VERSION_NAME, BuildConfig.VERSION_CODE,
        Contract.RUNTIME, TfliteModels.runtimeVersion()
    )

    override fun device(): DeviceInfo = DeviceInfo(Build.FINGERPRINT ?: "", Build.MODEL ?: "", isEmulator())

    private fun isEmulator(): Boolean {
        val fp = Build.FINGERPRINT ?: ""
        val hw = Build.HARDWARE ?: ""
        val product = Build.PRODUCT ?: ""
        return fp.startsWith("generic") || fp.contains("emulator") || fp.contains("sdk_gphone") ||
            hw == "goldfish" || hw == "ranchu" || product.startsWith("sdk") || product.contains("emulator")
    }

    /** getExternalFilesDir(null)/results: /sdcard/Android/data/dev.harness.benchmark/files/results. */
    override fun resultDir(): File {
        val base = context.getExternalFilesDir(null) ?: File(context.filesDir, "external-unavailable")
        return File(base, Contract.RESULT_SUBDIR)
    }

    override fun openEngine(spec: Spec, modelFile: File): Engine {
        val e = opener(spec, modelFile)
        val flex = (e as? TfliteEngine)?.flexDelegate
        log(
            "HARNESS_INFO run_id=${spec.runId} export=${spec.export} delegate=${e.delegateUsed} flex_delegate=$flex " +
                "threads=${e.threadsConfigured} " +
                "tflite=${TfliteModels.runtimeVersion()} abi=${Build.SUPPORTED_ABIS.firstOrNull()}"
        )
        return e
    }
}
