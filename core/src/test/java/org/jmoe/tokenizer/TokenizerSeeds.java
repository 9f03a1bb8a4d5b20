package org.jmoe.tokenizer;

/** Valid tokenizer files from the tokenizer tests, as seeds for the parser fuzz targets. */
public final class TokenizerSeeds {
    private TokenizerSeeds() {}

    public static String byteLevelJson() { return TokenizerJsonTest.BYTE_LEVEL; }

    public static String llamaJson() { return TokenizerJsonTest.LLAMA2; }

    public static byte[] sentencePieceModel(boolean dummyPrefix) { return SentencePieceModelTest.model(dummyPrefix); }
}
