package dev.harness.benchmark

import android.os.SystemClock
import dev.harness.benchmark.core.CacheRows
import dev.harness.benchmark.core.Contract
import dev.harness.benchmark.core.DecodeStep
import dev.harness.benchmark.core.Engine
import dev.harness.benchmark.core.EngineOutput
import dev.harness.benchmark.core.OneshotEngine
import dev.harness.benchmark.core.PrefillDecodeEngine
import dev.harness.benchmark.core.TfLiteStrings
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.TensorFlowLite
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * The app's models on TensorFlow Lite: [TfliteEngine] (the runbook's one-shot string graph) and
 * [TflitePrefillDecodeEngine] (the prefill/decode export); [TfliteModels.open] picks by the spec's export.
 *
 * The one-shot graph: signature `serving_default`, input `prompt`
 * (scalar string, UTF-8 bytes), outputs `text` (scalar string), `token_count` and
 * `prompt_token_count` (int32 scalars, optional).
 *
 * The graph holds the tokenizer, so it needs the Select TF ops and the TF Text kernels. Both come
 * in app/libs/tftext_tflite_flex.aar (built by scripts/build_aar.sh): it is a Flex delegate whose
 * native library has the TF Text kernels linked in, so adding its FlexDelegate is all the
 * registration needed (the runbook's sample app gets the same delegate implicitly, because the
 * Interpreter applies org.tensorflow.lite.flex.FlexDelegate whenever the class is present).
 * The class is looked up by reflection so that the app still builds without the aar; a model with
 * Select TF ops then fails to load with TFLite's own message, which the result carries.
 *
 * Outputs are not copied into a caller-sized buffer: after the call the output tensor's own
 * buffer is read whole, so the text is never cut at a fixed size (the sample app used 800 bytes).
 */
class TfliteEngine internal constructor(
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    private val inputName: String,
    private val textName: String,
    private val tokenCountName: String?,
    private val promptTokenCountName: String?,
    override val threadsConfigured: Int,
    /** The compute backend (Contract.DELEGATE_*): CPU kernels, TFLite's and, through Flex, TensorFlow's. */
    override val delegateUsed: String
) : OneshotEngine {
    val flexDelegate: Boolean get() = delegate != null

    override fun generate(prompt: String): EngineOutput {
        val inputs = HashMap<String, Any>()
        inputs[inputName] = prompt.toByteArray(Charsets.UTF_8)
        val outputs = HashMap<String, Any>() // read from the tensors below, not copied into buffers
        val t0 = SystemClock.elapsedRealtimeNanos()
        interpreter.runSignature(inputs, outputs, SIGNATURE)
        val t1 = SystemClock.elapsedRealtimeNanos()
        val text = TfLiteStrings.decode(TfliteModels.bytesOf(output(textName)))
        return EngineOutput(
            t1 - t0, text,
            tokenCountName?.let { TfliteModels.scalarInt(output(it)) },
            promptTokenCountName?.let { TfliteModels.scalarInt(output(it)) }
        )
    }

    private fun output(name: String): Tensor = interpreter.getOutputTensorFromSignature(name, SIGNATURE)

    override fun close() = TfliteModels.close(interpreter, delegate)

    companion object {
        const val SIGNATURE = Contract.SIGNATURE_ONESHOT

        fun runtimeVersion(): String = TfliteModels.runtimeVersion()

        internal fun wrap(interpreter: Interpreter, delegate: Delegate?, threads: Int, used: String): TfliteEngine {
            val keys = interpreter.signatureKeys.toList()
            require(SIGNATURE in keys) { "model has no '$SIGNATURE' signature (it has $keys)" }
            val ins = interpreter.getSignatureInputs(SIGNATURE).toList()
            val outs = interpreter.getSignatureOutputs(SIGNATURE).toList()
            val input = pick(ins, Contract.INPUT_PROMPT, "input")
            val text = pick(outs.filter { it != Contract.OUTPUT_TOKEN_COUNT && it != Contract.OUTPUT_PROMPT_TOKEN_COUNT }, Contract.OUTPUT_TEXT, "output")
            val inTensor = interpreter.getInputTensorFromSignature(input, SIGNATURE)
            require(inTensor.dataType() == DataType.STRING) { "input '$input' is ${inTensor.dataType()}, not a string" }
            return TfliteEngine(
                interpreter, delegate, input, text,
                Contract.OUTPUT_TOKEN_COUNT.takeIf { it in outs },
                Contract.OUTPUT_PROMPT_TOKEN_COUNT.takeIf { it in outs },
                threads, used
            )
        }

        /** The named tensor, or the only one there is (a model converted without named outputs). */
        private fun pick(names: List<String>, wanted: String, what: String): String = when {
            wanted in names -> wanted
            names.size == 1 -> names[0]
            else -> throw IllegalArgumentException("signature $SIGNATURE has no $what '$wanted' (it has $names)")
        }
    }
}

/**
 * The prefill/decode export (docs/generation-metrics.md) on TensorFlow Lite: the session's
 * GreedyDecoder drives it and times each call. A call feeds the inputs, runs the signature and
 * copies `logits` (and, stateless, the cache or its update) out, as the host's signature runner
 * does. The stateless cache lives in direct buffers allocated once: prefill fills the cache; from
 * export code version 10 decode outputs `cache_rows`, this position's keys and values, which the
 * engine writes into that one cache at `index` ([CacheRows], inside the timed call, as the host's
 * `next_cache`). An older model's decode outputs the whole updated `cache`: two buffers are used in
 * turn, a decode call reading the one the previous call filled and writing the other.
 *
 * Prefill's `token_ids` comes in two forms, told apart by its shape signature: `[1, -1]` (export
 * code version 6 and later) takes the prompt's own n ids and computes n positions; `[1, L]` (older
 * models) takes them padded to L. The feed is an `int[1][n]` array: when its shape differs from the
 * input tensor's, `runSignature` resizes the input and re-allocates the signature's tensors before
 * copying it in (inside the timed call, as the host's Python signature runner does). The stateless
 * cache has L positions in both forms.
 */
class TflitePrefillDecodeEngine internal constructor(
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    override val maxLength: Int?,
    override val stateful: Boolean,
    override val prefillTakesPromptLength: Boolean,
    private val vocab: Int,
    cacheBytes: Int,
    /** Bytes of decode's `cache_rows` output (export code version 10 on); 0 when it outputs the whole `cache`. */
    rowsBytes: Int,
    /** layers × 2, the slices of the cache; and L, its positions. */
    private val cacheSlices: Int,
    private val cachePositions: Int,
    override val threadsConfigured: Int,
    override val delegateUsed: String
) : PrefillDecodeEngine {

    private fun direct(bytes: Int): ByteBuffer = ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder())
    private val cacheA: ByteBuffer? = if (stateful) null else direct(cacheBytes)
    private val rows: ByteBuffer? = if (stateful || rowsBytes == 0) null else direct(rowsBytes)
    private val cacheB: ByteBuffer? = if (stateful || rows != null) null else direct(cacheBytes)
    private val logits = Array(1) { FloatArray(vocab) }
    /** Prefill's feed, [1, n] or [1, L]; re-made only when the length changes. */
    private var tokenIds = Array(1) { IntArray(if (prefillTakesPromptLength) 0 else maxLength ?: 0) }
    private val tokenId = Array(1) { IntArray(1) }

    override fun prefill(tokenIds: IntArray, promptLength: Int): DecodeStep {
        if (prefillTakesPromptLength) {
            require(tokenIds.size == promptLength && promptLength >= 1 && (maxLength == null || promptLength <= maxLength)) {
                "token_ids has ${tokenIds.size} ids for a prompt of $promptLength, the model takes the prompt's 1..${maxLength ?: "L"}"
            }
        } else {
            require(tokenIds.size == maxLength) { "token_ids has ${tokenIds.size} ids, the model takes $maxLength" }
        }
        if (this.tokenIds[0].size != tokenIds.size) this.tokenIds = Array(1) { IntArray(tokenIds.size) }
        System.arraycopy(tokenIds, 0, this.tokenIds[0], 0, tokenIds.size)
        val inputs = HashMap<String, Any>()
        inputs[Contract.INPUT_TOKEN_IDS] = this.tokenIds
        inputs[Contract.INPUT_PROMPT_LENGTH] = promptLength
        return run(Contract.SIGNATURE_PREFILL, inputs, if (stateful) null else Contract.TENSOR_CACHE, cacheA)
    }

    override fun decode(tokenId: Int, index: Int, cache: Any?): DecodeStep {
        this.tokenId[0][0] = tokenId
        val inputs = HashMap<String, Any>()
        inputs[Contract.INPUT_TOKEN_ID] = this.tokenId
        inputs[Contract.INPUT_INDEX] = index
        if (stateful) return run(Contract.SIGNATURE_DECODE, inputs, null, null)
        val previous = cache as? ByteBuffer ?: throw IllegalArgumentException("a stateless decode needs the previous cache")
        previous.rewind()
        inputs[Contract.TENSOR_CACHE] = previous
        if (rows == null) {
            return run(Contract.SIGNATURE_DECODE, inputs, Contract.TENSOR_CACHE, if (previous === cacheA) cacheB else cacheA)
        }
        val step = run(Contract.SIGNATURE_DECODE, inputs, Contract.OUTPUT_CACHE_ROWS, rows)
        CacheRows.write(previous, rows, cacheSlices, cachePositions, index)
        return DecodeStep(step.logits, previous)
    }

    private fun run(signature: String, inputs: Map<String, Any>, outName: String?, out: ByteBuffer?): DecodeStep {
        val outputs = HashMap<String, Any>()
        outputs[Contract.OUTPUT_LOGITS] = logits
        if (outName != null && out != null) {
            out.rewind()
            outputs[outName] = out
        }
        interpreter.runSignature(inputs, outputs, signature)
        out?.rewind()
        return DecodeStep(logits[0].copyOf(), out)
    }

    override fun close() = TfliteModels.close(interpreter, delegate)

    companion object {
        internal fun wrap(interpreter: Interpreter, delegate: Delegate?, threads: Int, used: String): TflitePrefillDecodeEngine {
            val keys = interpreter.signatureKeys.toList()
            for (k in listOf(Contract.SIGNATURE_PREFILL, Contract.SIGNATURE_DECODE)) {
                require(k in keys) { "model has no '$k' signature (it has $keys)" }
            }
            val pre = Contract.SIGNATURE_PREFILL
            val dec = Contract.SIGNATURE_DECODE
            // The shape signature, not the shape: a [1, -1] input's shape is whatever it was last
            // resized to (1 after loading).
            val ids = interpreter.getInputTensorFromSignature(Contract.INPUT_TOKEN_IDS, pre)
            val sig = ids.shapeSignature()
            require(ids.dataType() == DataType.INT32 && sig.size == 2 && sig[0] == 1 && (sig[1] == -1 || sig[1] >= 1)) {
                "prefill input token_ids is ${ids.dataType()} ${sig.toList()}, expected INT32 [1, L] or [1, -1]"
            }
            val takesPromptLength = sig[1] == -1
            // decode's shapes are all fixed: its logits give the vocabulary, its cache input L.
            val logits = interpreter.getOutputTensorFromSignature(Contract.OUTPUT_LOGITS, dec)
            val ls = logits.shape()
            require(logits.dataType() == DataType.FLOAT32 && ls.size == 2 && ls[0] == 1) {
                "decode output logits is ${logits.dataType()} ${ls.toList()}, expected FLOAT32 [1, vocab]"
            }
            // Stateless when decode takes the cache (the host's test: "cache" among decode's inputs).
            val stateful = Contract.TENSOR_CACHE !in interpreter.getSignatureInputs(dec).toList()
            var cacheLength: Int? = null
            var cacheBytes = 0
            var rowsBytes = 0
            var slices = 0
            if (!stateful) {
                val cache = interpreter.getInputTensorFromSignature(Contract.TENSOR_CACHE, dec)
                val cs = cache.shape()
                require(cache.dataType() == DataType.FLOAT32 && cs.size == 5) {
                    "decode input cache is ${cache.dataType()} ${cs.toList()}, expected FLOAT32 [layers, 2, L, heads, head_dim]"
                }
                cacheLength = cs[2]
                cacheBytes = cache.numBytes()
                slices = cs[0] * cs[1]
                val preOuts = interpreter.getSignatureOutputs(pre).toList()
                require(Contract.TENSOR_CACHE in preOuts) { "prefill outputs no '${Contract.TENSOR_CACHE}' (it has $preOuts)" }
                // decode outputs cache_rows (export code version 10 on) or the whole cache (older)
                val decOuts = interpreter.getSignatureOutputs(dec).toList()
                if (Contract.OUTPUT_CACHE_ROWS in decOuts) {
                    val r = interpreter.getOutputTensorFromSignature(Contract.OUTPUT_CACHE_ROWS, dec)
                    val shape = intArrayOf(cs[0], cs[1], 1, cs[3], cs[4])
                    require(r.dataType() == DataType.FLOAT32 && r.shape().contentEquals(shape)) {
                        "decode output cache_rows is ${r.dataType()} ${r.shape().toList()}, expected FLOAT32 ${shape.toList()}"
                    }
                    rowsBytes = r.numBytes()
                } else {
                    require(Contract.TENSOR_CACHE in decOuts) { "decode outputs neither cache_rows nor cache (it has $decOuts)" }
                }
            }
            val fixedLength = if (takesPromptLength) null else sig[1]
            if (fixedLength != null && cacheLength != null) {
                require(fixedLength == cacheLength) { "prefill token_ids length $fixedLength != cache positions $cacheLength" }
            }
            return TflitePrefillDecodeEngine(
                interpreter, delegate, fixedLength ?: cacheLength, stateful, takesPromptLength, ls[1], cacheBytes, rowsBytes,
                slices, cacheLength ?: 0, threads, used
            )
        }
    }
}

/** Loading, and the helpers both engines share. */
object TfliteModels {
    private const val FLEX_CLASS = "org.tensorflow.lite.flex.FlexDelegate"

    fun runtimeVersion(): String = try {
        TensorFlowLite.runtimeVersion()
    } catch (t: Throwable) {
        "unknown"
    }

    private fun newFlexDelegate(): Delegate? = try {
        Class.forName(FLEX_CLASS).getConstructor().newInstance() as Delegate
    } catch (e: ClassNotFoundException) {
        null
    }

    /**
     * The interpreter options for [delegate] (Contract.DELEGATE_*): [threads] threads; cpu leaves
     * XNNPACK as the runtime applies it by default, cpu-builtin turns it off, so TFLite's own
     * kernels compute from the model file's weights instead of XNNPACK's repacked copy of them
     * (one per signature: prefill and decode hold two).
     */
    fun options(threads: Int, delegate: String): Interpreter.Options {
        require(delegate == Contract.DELEGATE_CPU || delegate == Contract.DELEGATE_CPU_BUILTIN) { "unknown delegate $delegate" }
        val options = Interpreter.Options().setNumThreads(threads)
        if (delegate == Contract.DELEGATE_CPU_BUILTIN) options.setUseXNNPACK(false)
        return options
    }

    /** The engine for [export] (Contract.EXPORT_*) with [threads] interpreter threads on [cpu] (Contract.DELEGATE_*). */
    fun open(modelFile: File, threads: Int, export: String, cpu: String): Engine {
        val options = options(threads, cpu)
        val delegate = newFlexDelegate()
        if (delegate != null) options.addDelegate(delegate)
        val interpreter = try {
            Interpreter(modelFile, options)
        } catch (t: Throwable) {
            (delegate as? AutoCloseable)?.close()
            throw t
        }
        try {
            val configured = options.numThreads
            return when (export) {
                Contract.EXPORT_PREFILL_DECODE -> TflitePrefillDecodeEngine.wrap(interpreter, delegate, configured, cpu)
                else -> TfliteEngine.wrap(interpreter, delegate, configured, cpu)
            }
        } catch (t: Throwable) {
            close(interpreter, delegate)
            throw t
        }
    }

    fun close(interpreter: Interpreter, delegate: Delegate?) {
        try {
            interpreter.close()
        } finally {
            (delegate as? AutoCloseable)?.close()
        }
    }

    fun bytesOf(t: Tensor): ByteArray {
        val b: ByteBuffer = t.asReadOnlyBuffer()
        b.rewind()
        val out = ByteArray(b.remaining())
        b.get(out)
        return out
    }

    fun scalarInt(t: Tensor): Int? {
        val b = t.asReadOnlyBuffer() // native byte order
        return when (t.dataType()) {
            DataType.INT32 -> if (b.capacity() >= 4) b.getInt(0) else null
            DataType.INT64 -> if (b.capacity() >= 8) b.getLong(0).toInt() else null
            else -> null
        }
    }
}
