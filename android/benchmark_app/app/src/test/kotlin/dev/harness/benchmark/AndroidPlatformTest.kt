package dev.harness.benchmark

import android.content.Context
import android.content.Intent
import android.os.BatteryManager
import android.os.PowerManager
import org.robolectric.RuntimeEnvironment
import dev.harness.benchmark.core.Contract
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Before
import org.junit.Test
import org.junit.runner.RunWith
import org.robolectric.RobolectricTestRunner
import org.robolectric.Shadows.shadowOf
import org.robolectric.annotation.Config
import org.robolectric.shadows.ShadowLog

/** AndroidPlatform's readings from the (shadowed) framework on Android 15. */
@RunWith(RobolectricTestRunner::class)
@Config(sdk = [35], shadows = [ShadowHeadroomPowerManager::class])
class AndroidPlatformTest {
    private val context: Context = RuntimeEnvironment.getApplication()
    private val power get() = context.getSystemService(Context.POWER_SERVICE) as PowerManager

    @Before
    fun setUp() {
        ShadowLog.clear()
        ShadowHeadroomPowerManager.reset(0.5f)
    }

    @Test
    fun thermalStatusHeadroomAndInteractiveComeFromPowerManager() {
        val p = AndroidPlatform(context)
        shadowOf(power).setCurrentThermalStatus(PowerManager.THERMAL_STATUS_SEVERE)
        shadowOf(power).setIsInteractive(false)
        assertEquals(PowerManager.THERMAL_STATUS_SEVERE, p.thermalStatus())
        assertEquals(0.5, p.thermalHeadroom()!!, 1e-6)
        assertEquals(false, p.isInteractive())
        ShadowHeadroomPowerManager.reset(Float.NaN) // asked too often, or no thermal HAL
        assertNull(p.thermalHeadroom())
    }

    @Test
    fun batteryTemperatureComesFromTheStickyIntent() {
        val p = AndroidPlatform(context)
        assertNull("no sticky battery intent yet", p.batteryTempC())
        context.sendStickyBroadcast(Intent(Intent.ACTION_BATTERY_CHANGED).putExtra(BatteryManager.EXTRA_TEMPERATURE, 412))
        assertEquals(41.2, p.batteryTempC()!!, 1e-9)
    }

    @Test
    fun resultsGoToTheExternalFilesDirectory() {
        val dir = AndroidPlatform(context).resultDir()
        assertEquals(Contract.RESULT_SUBDIR, dir.name)
        assertEquals(context.getExternalFilesDir(null), dir.parentFile)
    }

    @Test
    fun appAndDeviceDescribeThemselves() {
        val p = AndroidPlatform(context)
        val app = p.app()
        assertEquals(BuildConfig.APPLICATION_ID, app.packageName)
        assertEquals(BuildConfig.VERSION_NAME, app.versionName)
        assertTrue(BuildConfig.VERSION_NAME.endsWith("+tflite-2.18.0"))
        assertEquals(Contract.RUNTIME, app.runtime)
        // TFLite's native runtime does not load on the JVM: the version is "unknown", not a guess.
        assertEquals("unknown", app.tfliteVersion)
        assertEquals(Runtime.getRuntime().availableProcessors(), p.cpuCount())
        assertTrue(p.rssKb()!! > 0) // /proc/self/status of this JVM
    }
}
