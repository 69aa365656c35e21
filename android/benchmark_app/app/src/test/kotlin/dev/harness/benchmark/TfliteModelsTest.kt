package dev.harness.benchmark

import dev.harness.benchmark.core.Contract
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The interpreter options each contract delegate asks TFLite for (the real TFLite Java API's
 * Interpreter.Options; loading a model needs TFLite's native library, which does not load on the JVM).
 */
class TfliteModelsTest {
    @Test
    fun cpuLeavesXnnpackToTheRuntimeDefault() {
        val o = TfliteModels.options(3, Contract.DELEGATE_CPU)
        assertEquals(3, o.numThreads)
        assertTrue(o.useXNNPACK)   // unset: the runtime applies XNNPACK, as before the option existed
    }

    @Test
    fun cpuBuiltinTurnsXnnpackOff() {
        val o = TfliteModels.options(2, Contract.DELEGATE_CPU_BUILTIN)
        assertEquals(2, o.numThreads)
        assertFalse(o.useXNNPACK)
    }

    @Test
    fun anUnknownDelegateIsRefused() {
        assertThrows(IllegalArgumentException::class.java) { TfliteModels.options(1, "gpu") }
    }
}
