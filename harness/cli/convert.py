"""``harness convert``: convert a model into TFLite variants (cached), without running anything."""
from __future__ import annotations

from harness.cli import common

DEFAULT_MODEL = "synthetic:tiny"
DEFAULT_VARIANTS = "fp32,dynamic,fp16"


def add_model_options(p) -> None:
    """The options that decide which models are converted (shared with ``run``)."""
    from harness.convert import exports, variants

    p.add_argument("--model", default=DEFAULT_MODEL,
                   help="keras-hub preset name (gpt2_base_en), a local preset directory, or "
                   "synthetic:tiny / synthetic:gpt2-base (random weights, real shape), "
                   "trained:tiny (a small GPT-2 trained here)")
    p.add_argument("--variants", default=DEFAULT_VARIANTS,
                   help=f"comma-separated, of: {', '.join(variants.VARIANTS)}")
    p.add_argument("--max-length", type=common.int_list("--max-length", 2), default=[100], metavar="N[,N...]",
                   help="output length in tokens, prompt included; baked into each converted model; "
                   "several values sweep")
    p.add_argument("--export", choices=exports.EXPORTS, default="oneshot",
                   help="oneshot: the runbook's string-in/string-out graph (Flex + TF Text); prefill_decode: "
                   "builtin-only prefill and decode signatures, which give time to first token and decode speed")


def add_parser(sub) -> None:
    p = common.add_command(
        sub, "convert", help="convert a model into TFLite variants (cached)",
        description="Convert a Keras GPT-2 into TFLite variants, one fresh process per step, and print "
                    "each model's size, weight dtypes and conversion cost. Models are cached by content "
                    "in $HARNESS_CACHE (default ~/.cache/harness); a second call converts nothing.",
        examples="""harness convert --variants fp32,dynamic,fp16,int8
harness convert --model synthetic:gpt2-base --max-length 100 --export prefill_decode""",
        exits="0 converted (or cached)\n1 a user mistake or a failed conversion (one line)\n2 usage error")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from harness.convert import convert, variants
    from harness.model import sources
    from harness.ui import Display

    source = sources.resolve(args.model)
    names = variants.parse_variants(args.variants)
    display = Display()
    with display.status() as status:
        for L in args.max_length:
            for c in convert(source, names, L, export=args.export, progress=status.update):
                display.conversion_line(c)
    return 0
