package dev.harness.benchmark.core

import org.json.JSONArray
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** CacheRows.write against the vectors the host's next_cache is tested with. */
class CacheRowsTest {
    private fun buffer(values: JSONArray): ByteBuffer {
        val b = ByteBuffer.allocateDirect(values.length() * 4).order(ByteOrder.nativeOrder())
        for (i in 0 until values.length()) b.putFloat(values.getDouble(i).toFloat())
        b.rewind()
        return b
    }

    private fun floats(b: ByteBuffer): FloatArray {
        val d = b.duplicate().order(b.order())
        d.clear()
        return FloatArray(d.capacity() / 4) { d.getFloat() }
    }

    @Test
    fun followsTheVectors() {
        val vectors = Examples.json("cache-rows-vectors.json").getJSONArray("vectors")
        assertEquals(3, vectors.length())
        for (k in 0 until vectors.length()) {
            val v = vectors.getJSONObject(k)
            val shape = v.getJSONArray("cache_shape")
            val cache = buffer(v.getJSONArray("cache"))
            val rows = buffer(v.getJSONArray("cache_rows"))
            CacheRows.write(cache, rows, shape.getInt(0) * 2, shape.getInt(2), v.getInt("index"))
            val want = v.getJSONArray("expected")
            assertArrayEquals(v.getString("name"), FloatArray(want.length()) { want.getDouble(it).toFloat() }, floats(cache), 0f)
            assertEquals("the cache's position is left as it was", 0, cache.position())
        }
    }

    @Test
    fun refusesAnIndexOutsideTheCacheOrRowsThatDoNotFit() {
        val cache = ByteBuffer.allocateDirect(2 * 3 * 8)
        val rows = ByteBuffer.allocateDirect(2 * 8)
        assertThrows(IllegalArgumentException::class.java) { CacheRows.write(cache, rows, 2, 3, 3) }
        assertThrows(IllegalArgumentException::class.java) { CacheRows.write(cache, rows, 2, 3, -1) }
        assertThrows(IllegalArgumentException::class.java) { CacheRows.write(cache, ByteBuffer.allocateDirect(8), 2, 3, 0) }
    }
}
