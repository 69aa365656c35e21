package dev.harness.benchmark.core

/**
 * The context window: keep the last N words of a prompt, joined by single spaces.
 *
 * Identical to harness.contract.apply_context_window: a word is a maximal run of characters that
 * are not whitespace in Python's sense (`str.isspace`, which is what Python's `\S` excludes).
 * The whitespace set is spelled out here instead of using a regex, because `\s` means different
 * things on the JVM (ASCII only), with UNICODE_CHARACTER_CLASS, and in Android's ICU regex.
 * harness/data/contract/examples/context-window-vectors.json pins the behaviour on both sides.
 */
object ContextWindow {
    fun isWhitespace(c: Char): Boolean = when (c) {
        '\t', '\n', '\u000B', '\u000C', '\r',
        '\u001C', '\u001D', '\u001E', '\u001F', ' ',
        '\u0085', '\u00A0', '\u1680', '\u2028', '\u2029',
        '\u202F', '\u205F', '\u3000' -> true
        else -> c in '\u2000'..'\u200A'
    }

    fun words(text: String): List<String> {
        val out = ArrayList<String>()
        var start = -1
        for (i in 0 until text.length) {
            if (isWhitespace(text[i])) {
                if (start >= 0) {
                    out.add(text.substring(start, i))
                    start = -1
                }
            } else if (start < 0) {
                start = i
            }
        }
        if (start >= 0) out.add(text.substring(start))
        return out
    }

    /** [words] null keeps the prompt unchanged; otherwise it must be at least 1 (the spec schema says so). */
    fun apply(prompt: String, words: Int?): String {
        if (words == null) return prompt
        require(words >= 1) { "context window must be at least 1 word, got $words" }
        val all = words(prompt)
        val from = if (all.size > words) all.size - words else 0
        return all.subList(from, all.size).joinToString(" ")
    }
}
