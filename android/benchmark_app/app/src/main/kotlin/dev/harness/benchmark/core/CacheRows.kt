package dev.harness.benchmark.core

import java.nio.ByteBuffer

/**
 * The stateless KV cache's update after a decode call (docs/generation-metrics.md): from export code
 * version 10, decode outputs `cache_rows` [layers, 2, 1, heads, head_dim], this position's keys and
 * values, and the caller writes them into its cache [layers, 2, L, heads, head_dim] (prefill's
 * output) at position `index`. The host's `next_cache` (harness/devices/host/generate.py) does the
 * same; harness/data/contract/examples/cache-rows-vectors.json pins both.
 */
object CacheRows {
    /**
     * Copies each of the [slices] (= layers × 2) rows of [rows] into [cache], which holds [positions]
     * positions per slice, at position [index]. Both buffers hold row-major float32 in one byte
     * order; their positions and limits are left as they were.
     */
    fun write(cache: ByteBuffer, rows: ByteBuffer, slices: Int, positions: Int, index: Int) {
        require(slices >= 1 && positions >= 1) { "slices $slices, positions $positions" }
        require(index in 0 until positions) { "index $index outside the cache's $positions positions" }
        val rowBytes = rows.capacity() / slices
        require(rowBytes > 0 && rowBytes * slices == rows.capacity() && cache.capacity() == rows.capacity() * positions) {
            "cache_rows of ${rows.capacity()} bytes does not fit a cache of ${cache.capacity()} bytes, $slices slices, $positions positions"
        }
        val src = rows.duplicate()
        val dst = cache.duplicate()
        for (s in 0 until slices) {
            src.clear()
            src.position(s * rowBytes)
            src.limit((s + 1) * rowBytes)
            dst.clear()
            dst.position((s * positions + index) * rowBytes)
            dst.put(src)
        }
    }
}
