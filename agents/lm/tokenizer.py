"""A tokenizer trained on the Canvas world's own text, for the tiny language-model agents.

Why byte-level BPE (and not WordLevel plus punctuation): every string encodes, with no ``<unk>``, so a policy can be
prompted with a user's free-form instruction, feedback text or a typo and still read all of it; decoding gives back
exactly the text that was encoded. The merges are learnt on the world's text, so its vocabulary (colours, shapes,
regions, verbs, the numbers in scene renderings) still costs one or two tokens per word: the sequences stay short,
which is what makes SFT and sampling fast on a CPU.

Special and added tokens:

- ``<pad>``, ``<bos>``, ``<eos>`` are *special*: ``decode(..., skip_special_tokens=True)`` drops them, and the
  post-processor prepends ``<bos>`` when ``add_special_tokens=True`` (prompts), not otherwise (SFT targets).
- The format tags of the tagged output (``<think>``, ``<answer>``, ``<action>``, ...; see :mod:`rewards.parsing`)
  are single *added, non-special* tokens: one token each, so the format costs the model one decision per tag, and
  they survive ``skip_special_tokens=True`` (a tag is content, not control).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

__all__ = ["PAD", "BOS", "EOS", "SPECIAL_TOKENS", "FORMAT_TAGS", "DEFAULT_VOCAB_SIZE", "train_tokenizer", "canvas_corpus"]

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
#: Special tokens, in id order: pad is 0 so that padded batches are zeros.
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS)
#: The tags of the tagged output format, each kept as one token.
FORMAT_TAGS: tuple[str, ...] = (
    "<think>", "</think>", "<answer>", "</answer>",
    "<action>", "</action>", "<subject>", "</subject>", "<target>", "</target>",
)  # fmt: skip

#: GPT-2's pre-tokenisation pattern, except that a decimal number ("0.45") stays one piece. Scene renderings list
#: every object's centre as two decimals; as one piece each, BPE learns them as single tokens, which cuts the scene
#: text by about a third (and the positions become one symbol each for the model).
_PRETOKENIZE = r"""'(?:[sdmt]|ll|ve|re)| ?\d+(?:\.\d+)?| ?\p{L}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

#: 256 byte symbols + merges. The Canvas text has a few hundred distinct words and the scene renderings 100 two-digit
#: numbers; 1024 tokens give every frequent word (with and without its leading space) its own token, and a small
#: vocabulary keeps the embedding, the biggest matrix of a tiny model, small.
DEFAULT_VOCAB_SIZE = 1024


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    *,
    min_frequency: int = 2,
    model_max_length: int = 512,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it for ``transformers``.

    Args:
        texts: training text (e.g. :func:`canvas_corpus`); iterated once.
        vocab_size: total vocabulary size including the 256 byte symbols, special tokens and format tags.
        min_frequency: a pair must occur this often to be merged (1-off pairs would only waste vocabulary).
        model_max_length: the longest sequence the model is meant to see (for truncation warnings only).

    Returns:
        A ``PreTrainedTokenizerFast`` with ``pad/bos/eos`` set, left padding (what batched generation needs), and
        ``save_pretrained`` / ``AutoTokenizer.from_pretrained`` round-tripping it.

    >>> tok = train_tokenizer(["make the red circle blue"] * 10, vocab_size=300)
    >>> tok.decode(tok("<think>Ünïcode ✓</think>", add_special_tokens=False)["input_ids"]) == "<think>Ünïcode ✓</think>"
    True
    """
    n_fixed = 256 + len(SPECIAL_TOKENS) + len(FORMAT_TAGS)
    if vocab_size < n_fixed:
        raise ValueError(f"vocab_size={vocab_size} is too small: byte-level BPE needs at least {n_fixed} (bytes + special tokens + tags)")
    backend = Tokenizer(models.BPE())
    # Split first (regex above), then map bytes to symbols. No prefix space: it would make a text's first word differ
    # from the same word elsewhere.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(_PRETOKENIZE), behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(FORMAT_TAGS),
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer=trainer)
    # Added after training so that their text never takes part in merges; normalized=False: matched verbatim.
    backend.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in FORMAT_TAGS])
    bos_id = backend.token_to_id(BOS)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        padding_side="left",
        model_max_length=model_max_length,
        # Exact round-trips: never rewrite " ." to "." on decode.
        clean_up_tokenization_spaces=False,
    )


def canvas_corpus(n_tasks: int = 2000, seed: int = 0, roles: Sequence[str] = ("decomposer", "thinker")) -> Iterator[str]:
    """Texts for tokenizer training: for each generated train-split task, every role's prompt and SFT target.

    The prompts carry the perceived scene text, so the tokenizer learns the same renderings the policy reads.

    Args:
        n_tasks: number of Canvas tasks to draw (train split).
        seed: generator seed.
        roles: the roles whose prompts and targets to include.
    """
    # Imported here: the Canvas world (scikit-image, scipy) is only needed to make data, not to use a tokenizer.
    from agents.lm.prompts import scene_text, sft_example
    from envs.canvas.generator import generate_tasks

    for task in generate_tasks(n_tasks, seed=seed, split="train"):
        scene = scene_text(task.source_png)  # once per task: perception is the slow part
        for role in roles:
            prompt, target = sft_example(role, task, scene=scene)
            yield prompt
            yield target
