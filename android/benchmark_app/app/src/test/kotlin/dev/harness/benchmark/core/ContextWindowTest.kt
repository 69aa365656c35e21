package dev.harness.benchmark.core

import org.json.JSONObject
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

class ContextWindowTest {
    @Test
    fun matchesTheSharedVectors() {
        val vectors = Examples.json("context-window-vectors.json").getJSONArray("vectors")
        assertTrue(vectors.length() >= 10)
        for (i in 0 until vectors.length()) {
            val v = vectors.getJSONObject(i)
            val words: Int? = if (v.isNull("words")) null else v.getInt("words")
            assertEquals("vector #$i", v.getString("expected"), ContextWindow.apply(v.getString("prompt"), words))
        }
    }

    @Test
    fun whitespaceIsPythonsSet() {
        val python = "\t\n\u000B\u000C\r\u001C\u001D\u001E\u001F \u0085\u00A0\u1680" +
            "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200A\u2028\u2029\u202F\u205F\u3000"
        for (i in 0 until python.length) assertTrue("whitespace #$i", ContextWindow.isWhitespace(python[i]))
        for (c in "a0_-\u200B\u180E\uFEFF\u00E9") assertFalse(ContextWindow.isWhitespace(c))
    }

    @Test
    fun nullKeepsThePromptByteForByte() {
        val p = "  keep \t me  as\nI am "
        assertEquals(p, ContextWindow.apply(p, null))
    }

    @Test(expected = IllegalArgumentException::class)
    fun zeroWordsIsRefused() {
        ContextWindow.apply("a b", 0)
    }

    @Test
    fun vectorsFileIsValidJson() {
        assertTrue(JSONObject(Examples.text("context-window-vectors.json")).has("vectors"))
    }
}
