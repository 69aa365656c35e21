package dev.harness.benchmark.core

import java.io.File
import java.io.FileInputStream
import java.io.FileOutputStream
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.security.MessageDigest

/** Writes results the way the contract asks: `<run_id>.json.tmp`, then rename to `<run_id>.json`. */
object ResultWriter {
    fun resultFile(dir: File, runId: String): File = File(dir, "$runId.json")

    fun writeAtomic(dir: File, runId: String, text: String): File {
        require(Contract.isValidRunId(runId)) { "invalid run_id" }
        if (!dir.isDirectory && !dir.mkdirs() && !dir.isDirectory) throw IOException("cannot create result directory $dir")
        val tmp = File(dir, "$runId.json.tmp")
        val dst = resultFile(dir, runId)
        FileOutputStream(tmp).use { out ->
            out.write(text.toByteArray(Charsets.UTF_8))
            out.flush()
            out.fd.sync()
        }
        if (!tmp.renameTo(dst)) {
            tmp.delete()
            throw IOException("cannot rename $tmp to $dst")
        }
        return dst
    }
}

object Sha256 {
    fun hex(file: File): String {
        val md = MessageDigest.getInstance("SHA-256")
        val buf = ByteArray(1 shl 20)
        FileInputStream(file).use { input ->
            while (true) {
                val n = input.read(buf)
                if (n < 0) break
                md.update(buf, 0, n)
            }
        }
        val sb = StringBuilder()
        for (b in md.digest()) sb.append(String.format("%02x", b))
        return sb.toString()
    }
}

/** Reads /proc/self/status fields. */
object ProcStatus {
    private val VMHWM = Regex("(?m)^VmHWM:\\s+(\\d+)\\s+kB")
    private val VMRSS = Regex("(?m)^VmRSS:\\s+(\\d+)\\s+kB")

    /** Peak resident set size in kB, or null when the text has no VmHWM line. */
    fun vmHwmKb(statusText: String): Long? = VMHWM.find(statusText)?.groupValues?.get(1)?.toLongOrNull()

    /** Current resident set size in kB, or null when the text has no VmRSS line. */
    fun vmRssKb(statusText: String): Long? = VMRSS.find(statusText)?.groupValues?.get(1)?.toLongOrNull()
}

/**
 * TensorFlow Lite's serialized string tensor: int32 count N, N+1 int32 offsets (from the start of
 * the buffer), then the bytes; little endian (every Android ABI is). The output tensor's buffer is
 * read whole after the call, so no fixed-size output buffer can truncate or overflow.
 */
object TfLiteStrings {
    fun decode(raw: ByteArray, index: Int = 0): String {
        if (raw.size < 4) throw IllegalArgumentException("string tensor too short (${raw.size} bytes)")
        val b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN)
        val count = b.getInt(0)
        if (count < 0 || index < 0 || index >= count) throw IllegalArgumentException("string tensor has $count strings, wanted #$index")
        val header = 4L * (count.toLong() + 2)
        if (header > raw.size) throw IllegalArgumentException("string tensor header larger than its ${raw.size} bytes")
        val start = b.getInt(4 + 4 * index)
        val end = b.getInt(8 + 4 * index)
        if (start < header || end < start || end > raw.size) {
            throw IllegalArgumentException("string tensor offsets $start..$end out of range (${raw.size} bytes)")
        }
        return String(raw, start, end - start, Charsets.UTF_8)
    }

    fun encode(values: List<String>): ByteArray {
        val bytes = values.map { it.toByteArray(Charsets.UTF_8) }
        val header = 4 * (values.size + 2)
        val total = header + bytes.map { it.size }.sum()
        val b = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN)
        b.putInt(values.size)
        var offset = header
        for (x in bytes) {
            b.putInt(offset)
            offset += x.size
        }
        b.putInt(offset)
        for (x in bytes) b.put(x)
        return b.array()
    }
}
