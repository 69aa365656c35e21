package dev.harness.benchmark

import android.os.SystemClock
import dev.harness.benchmark.core.Contract
import dev.harness.benchmark.core.Engine
import dev.harness.benchmark.core.EngineOutput
import dev.harness.benchmark.core.TfLiteStrings
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import org.tensorflow.lite.TensorFlowLite
import java.io.File
import java.nio.ByteBuffer

/**
 * The runbook's one-shot graph on TensorFlow Lite: signature `serving_default`, input `prompt`
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
class TfliteEngine private constructor(
    private val interpreter: Interpreter,
    private val delegate: Delegate?,
    private val inputName: String,
    private val textName: String,
    private val tokenCountName: String?,
    private val promptTokenCountName: String?,
    override val threadsUsed: Int
) : Engine {
    val flexDelegate: Boolean get() = delegate != null

    /** The compute backend: CPU kernels (TFLite builtins and, through Flex, TensorFlow kernels). */
    override val delegateUsed: String = Contract.DELEGATE_CPU

    override fun generate(prompt: String): EngineOutput {
        val inputs = HashMap<String, Any>()
        inputs[inputName] = prompt.toByteArray(Charsets.UTF_8)
        val outputs = HashMap<String, Any>() // read from the tensors below, not copied into buffers
        val t0 = SystemClock.elapsedRealtimeNanos()
        interpreter.runSignature(inputs, outputs, SIGNATURE)
        val t1 = SystemClock.elapsedRealtimeNanos()
        val text = TfLiteStrings.decode(bytesOf(output(textName)))
        return EngineOutput(
            t1 - t0, text,
            tokenCountName?.let { scalarInt(output(it)) },
            promptTokenCountName?.let { scalarInt(output(it)) }
        )
    }

    private fun output(name: String): Tensor = interpreter.getOutputTensorFromSignature(name, SIGNATURE)

    override fun close() {
        try {
            interpreter.close()
        } finally {
            (delegate as? AutoCloseable)?.close()
        }
    }

    companion object {
        const val SIGNATURE = Contract.SIGNATURE_ONESHOT
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

        fun open(modelFile: File, threads: Int): TfliteEngine {
            val delegate = newFlexDelegate()
            val options = Interpreter.Options().setNumThreads(threads)
            if (delegate != null) options.addDelegate(delegate)
            val interpreter = try {
                Interpreter(modelFile, options)
            } catch (t: Throwable) {
                (delegate as? AutoCloseable)?.close()
                throw t
            }
            try {
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
                    threads
                )
            } catch (t: Throwable) {
                interpreter.close()
                (delegate as? AutoCloseable)?.close()
                throw t
            }
        }

        /** The named tensor, or the only one there is (a model converted without named outputs). */
        private fun pick(names: List<String>, wanted: String, what: String): String = when {
            wanted in names -> wanted
            names.size == 1 -> names[0]
            else -> throw IllegalArgumentException("signature $SIGNATURE has no $what '$wanted' (it has $names)")
        }

        private fun bytesOf(t: Tensor): ByteArray {
            val b: ByteBuffer = t.asReadOnlyBuffer()
            b.rewind()
            val out = ByteArray(b.remaining())
            b.get(out)
            return out
        }

        private fun scalarInt(t: Tensor): Int? {
            val b = t.asReadOnlyBuffer() // native byte order
            return when (t.dataType()) {
                DataType.INT32 -> if (b.capacity() >= 4) b.getInt(0) else null
                DataType.INT64 -> if (b.capacity() >= 8) b.getLong(0).toInt() else null
                else -> null
            }
        }
    }
}
