"""Instruction wording: clause templates per action, politeness wrappers, connectives, synonyms, knowledge phrases.

Every clause template is an imperative verb phrase so that any clause fits any connective ("after you {A}, {B}");
sayings ("the star has to go") and questions ("can the star be blue?") are whole sentences that stand alone.
Each template has a stable id (`<family>.<index>`). The test split holds out every fifth template of each family
(`is_held_out`), and a hashed subset of *pairs* of templates that occur in one instruction (`is_held_out_pair`):
train instructions use neither, every test instruction uses at least one, so a model cannot pass the test split by
memorising phrasings, and no (scene, instruction) pair can occur in both splits.
"""

from __future__ import annotations

import zlib
from typing import Final

CLAUSES: Final[dict[str, tuple[str, ...]]] = {
    "recolor": (
        "make {subj} {color}",
        "change the colour of {subj} to {color}",
        "paint {subj} {color}",
        "colour {subj} {color}",
        "turn {subj} {color}",
        "recolour {subj} to {color}",
        "give {subj} a new colour: {color}",
        "fill {subj} with {color}",
        "switch {subj} to {color}",
        "set the colour of {subj} to {color}",
        "dye {subj} {color}",
        "tint {subj} {color}",
        "change {subj} to {color}",
        "recolor {subj} {color}",
        "make {subj} {color} instead",
        "repaint {subj} in {color}",
        "color {subj} {color}",
        "shade {subj} {color}",
        "make {subj} look {color}",
        "change {subj} over to {color}",
    ),
    "move": (
        "move {subj} to {region}",
        "put {subj} in {region}",
        "shift {subj} to {region}",
        "slide {subj} over to {region}",
        "drag {subj} to {region}",
        "relocate {subj} to {region}",
        "place {subj} in {region}",
        "reposition {subj} to {region}",
        "bring {subj} to {region}",
        "send {subj} to {region}",
        "push {subj} into {region}",
        "carry {subj} over to {region}",
        "set {subj} down in {region}",
        "transfer {subj} to {region}",
        "take {subj} to {region}",
        "have {subj} sit in {region}",
        "move {subj} over to {region}",
        "stick {subj} in {region}",
        "get {subj} over to {region}",
    ),
    "resize": (
        "make {subj} {size}",
        "resize {subj} to {size}",
        "change the size of {subj} to {size}",
        "scale {subj} to {size}",
        "set {subj} to {size}",
        "adjust {subj} to be {size}",
        "turn {subj} {size}",
        "change {subj} to {size}",
        "make {subj} {size} instead",
        "resize {subj} so it is {size}",
        "alter the size of {subj} to {size}",
        "give {subj} a {size} size",
        "size {subj} to {size}",
        "redo {subj} at {size}",
        "put {subj} at {size}",
        "bring {subj} to {size}",
        "{size} for {subj}, please",
    ),
    # Relative wording: only for a one-step change in the size order.
    "resize_up": (
        "make {subj} bigger",
        "enlarge {subj}",
        "grow {subj}",
        "scale up {subj}",
        "make {subj} larger",
        "increase the size of {subj}",
        "blow {subj} up",
        "bump up the size of {subj}",
        "size {subj} up",
        "make {subj} one size bigger",
        "take {subj} up a size",
        "go up a size on {subj}",
        "upsize {subj}",
    ),
    "resize_down": (
        "make {subj} smaller",
        "shrink {subj}",
        "scale down {subj}",
        "reduce the size of {subj}",
        "make {subj} a bit smaller",
        "decrease the size of {subj}",
        "tone down the size of {subj}",
        "size {subj} down",
        "make {subj} one size smaller",
        "take {subj} down a size",
        "knock {subj} down a size",
        "downsize {subj}",
    ),
    "reshape": (
        "turn {subj} into {shape_np}",
        "change {subj} into {shape_np}",
        "reshape {subj} into {shape_np}",
        "make {subj} {shape_np}",
        "transform {subj} into {shape_np}",
        "morph {subj} into {shape_np}",
        "convert {subj} into {shape_np}",
        "replace {subj} with {shape_np} of the same colour and size",
        "swap {subj} for {shape_np} of the same colour",
        "change the shape of {subj} to {shape_np}",
        "redraw {subj} as {shape_np}",
        "give {subj} the form of {shape_np}",
        "recast {subj} as {shape_np}",
        "switch {subj} to {shape_np}",
        "reshape {subj} as {shape_np}",
        "turn {subj} into {shape_np} instead",
    ),
    "remove": (
        "remove {subj}",
        "delete {subj}",
        "erase {subj}",
        "get rid of {subj}",
        "take away {subj}",
        "take out {subj}",
        "drop {subj}",
        "clear away {subj}",
        "wipe out {subj}",
        "eliminate {subj}",
        "remove {subj} from the picture",
        "make {subj} disappear",
        "cut {subj} out",
        "throw out {subj}",
        "rub out {subj}",
        "delete {subj} from the canvas",
        "delete {subj} from the picture",
        "get {subj} out of the picture",
        "lose {subj}",
        "ditch {subj}",
        "clear {subj} off the canvas",
    ),
    "add": (
        "add {obj} to {region}",
        "put {obj} in {region}",
        "place {obj} in {region}",
        "draw {obj} in {region}",
        "insert {obj} at {region}",
        "paint {obj} in {region}",
        "create {obj} in {region}",
        "include {obj} in {region}",
        "stick {obj} in {region}",
        "drop {obj} into {region}",
        "sketch {obj} in {region}",
        "introduce {obj} in {region}",
        "add {obj} at {region}",
        "fill {region} with {obj}",
        "pop {obj} into {region}",
        "set {obj} in {region}",
    ),
    "background": (
        "make the background {bg}",
        "change the background to {bg}",
        "set the background to {bg}",
        "paint the background {bg}",
        "turn the background {bg}",
        "switch the background to {bg}",
        "recolour the background to {bg}",
        "use {bg} for the background",
        "give the picture a background of {bg}",
        "swap the background for {bg}",
        "fill the background with {bg}",
        "colour the background {bg}",
        "change the backdrop to {bg}",
        "make the backdrop {bg}",
        "set the backdrop to {bg}",
        "repaint the background {bg}",
        "make the canvas {bg}",
        "change the canvas to {bg}",
        "give the picture a {bg} background",
    ),
}

#: Whole-sentence ways of asking for one edit, as people write them to a chat box: wishes, obligations, statements
#: of how the picture should be. They are not imperative verb phrases, so they never go inside a two-clause
#: connective ("after you {A}, {B}"); a step worded this way stands as its own segment. ``{is}``, ``{has}`` and
#: ``{needs}`` agree with the subject (plural for "the shapes that are red"). Families are ``say_<clause family>``.
SAYINGS: Final[dict[str, tuple[str, ...]]] = {
    "recolor": (
        "{subj} should become {color}",
        "{subj} should be {color}",
        "I want {subj} to be {color}",
        "{subj} {needs} to be {color}",
        "{subj} would look better {color}",
        "let's make {subj} {color}",
        "{subj} {has} to be {color}",
        "I'd like {subj} to turn {color}",
        "{subj} must become {color}",
        "I'd rather have {subj} in {color}",
        "{subj} {is} supposed to be {color}",
        "we need {subj} to be {color}",
        "{color} is what {subj} should be",
        "{subj} ought to be {color}",
        "{subj} in {color} would be better",
        "{subj} looks off, make {it} {color}",
        "{subj} {is} too dull, could {it} be {color}",
        "{color} would suit {subj} better",
        "not sure about {subj}, {color} would be better",
        "{subj} -> {color}",
        "{color} for {subj}",
    ),
    "move": (
        "{subj} should go to {region}",
        "I want {subj} in {region}",
        "{subj} needs to move to {region}",
        "{subj} belongs in {region}",
        "{subj} would look better in {region}",
        "let's put {subj} in {region}",
        "{subj} has to be in {region}",
        "I'd like {subj} over in {region}",
        "{region} is where {subj} should be",
        "{subj} ought to sit in {region}",
        "{subj} must be moved to {region}",
        "we need {subj} in {region}",
        "{subj} looks out of place, put {it} in {region}",
        "{region} would suit {subj} better",
        "{subj} -> {region}",
        "{subj} {is} in the wrong spot, {region} would be better",
    ),
    "resize": (
        "{subj} should be {size}",
        "I want {subj} to be {size}",
        "{subj} {needs} to be {size}",
        "{subj} should become {size}",
        "{subj} would look better {size}",
        "let's make {subj} {size}",
        "{subj} {has} to be {size}",
        "I'd like {subj} {size}",
        "{size} is the size {subj} should be",
        "{subj} ought to be {size}",
        "{subj} must be {size}",
        "{subj} looks off, make {it} {size}",
        "{subj} {is} the wrong size, {size} would be better",
        "{size} would suit {subj} better",
        "{subj} -> {size}",
        "{subj} at {size} would be better",
        "the size of {subj} should be {size}",
    ),
    "resize_up": (
        "{subj} should be bigger",
        "{subj} {needs} to be larger",
        "I want {subj} bigger",
        "{subj} should grow a bit",
        "{subj} could be bigger",
        "let's make {subj} larger",
        "{subj} {is} too small",
        "{subj} {is} too small, make {it} bigger",
        "{subj} looks tiny, blow {it} up a bit",
        "{subj} {is} a little small",
        "{subj} could go up a size",
        "{subj} {needs} to be a size bigger",
        "{subj} {is} hard to see, make {it} bigger",
    ),
    "resize_down": (
        "{subj} should be smaller",
        "{subj} {needs} to be smaller",
        "I want {subj} smaller",
        "{subj} should shrink a bit",
        "{subj} could be smaller",
        "let's make {subj} smaller",
        "{subj} {is} too big",
        "{subj} {is} way too big, make {it} smaller",
        "{subj} looks huge, shrink {it} a bit",
        "{subj} {is} a little big",
        "{subj} could go down a size",
        "{subj} {needs} to be a size smaller",
        "{subj} takes up too much room, make {it} smaller",
    ),
    "reshape": (
        "{subj} should become {shape_np}",
        "{subj} should be {shape_np}",
        "I want {subj} to be {shape_np}",
        "{subj} {needs} to become {shape_np}",
        "{subj} would look better as {shape_np}",
        "let's turn {subj} into {shape_np}",
        "{subj} {has} to be {shape_np}",
        "I'd like {subj} as {shape_np}",
        "{subj} must become {shape_np}",
        "I'd rather {subj} were {shape_np}",
        "{subj} ought to be {shape_np}",
        "{subj} looks off, make {it} {shape_np}",
        "{shape_np} would suit better than {subj}",
        "{subj} -> {shape_np}",
        "not sure about {subj}, {shape_np} would be better",
    ),
    "remove": (
        "{subj} {has} to go",
        "{subj} should go",
        "I want {subj} gone",
        "{subj} {needs} to be removed",
        "{subj} shouldn't be there",
        "let's get rid of {subj}",
        "{subj} should be deleted",
        "I don't want {subj} in the picture",
        "{subj} must disappear",
        "the picture is better without {subj}",
        "{subj} can go",
        "we don't need {subj}",
        "{subj} should be taken out",
        "no need for {subj} anymore",
        "{subj} {is} not needed",
        "we can do without {subj}",
        "{subj} {is} in the way, get rid of {it}",
        "{subj} looks out of place, delete {it}",
    ),
    "add": (
        "there should be {obj} in {region}",
        "I want {obj} in {region}",
        "{region} needs {obj}",
        "let's add {obj} to {region}",
        "{region} could use {obj}",
        "we need {obj} in {region}",
        "{obj} should go in {region}",
        "I'd like {obj} in {region}",
        "there has to be {obj} in {region}",
        "{obj} in {region} would be nice",
        "{region} should get {obj}",
        "{region} looks empty, add {obj} there",
        "{region} feels bare, put {obj} there",
        "{obj} -> {region}",
        "{region} is missing {obj}",
    ),
    "background": (
        "the background should be {bg}",
        "I want the background to be {bg}",
        "the background needs to be {bg}",
        "the backdrop should become {bg}",
        "the background would look better {bg}",
        "let's make the background {bg}",
        "the background has to be {bg}",
        "I'd like the background in {bg}",
        "{bg} is what the background should be",
        "the background ought to be {bg}",
        "the background must become {bg}",
        "{bg} background",
        "a {bg} background would suit this better",
        "let's have a {bg} background",
        "I'd love a {bg} background",
        "{bg} for the background",
        "the background looks dull, make it {bg}",
        "background -> {bg}",
        "the canvas should be {bg}",
        "{bg} for the canvas",
    ),
}

#: Questions asking for one edit. A question ends its instruction, so it is only used for one-step requests.
#: Families are ``ask_<clause family>``.
QUESTIONS: Final[dict[str, tuple[str, ...]]] = {
    "recolor": (
        "can {subj} be {color}?",
        "could {subj} be {color} instead?",
        "how about making {subj} {color}?",
        "can we have {subj} in {color}?",
        "why not make {subj} {color}?",
        "is it possible to make {subj} {color}?",
        "can {subj} turn {color}?",
    ),
    "move": (
        "can {subj} go to {region}?",
        "could we move {subj} to {region}?",
        "how about putting {subj} in {region}?",
        "can you get {subj} into {region}?",
        "why not move {subj} to {region}?",
        "could {subj} sit in {region} instead?",
    ),
    "resize": (
        "can {subj} be {size}?",
        "could {subj} be {size} instead?",
        "how about making {subj} {size}?",
        "can we have {subj} {size}?",
        "why not make {subj} {size}?",
        "could you size {subj} to {size}?",
        "would {subj} work at {size}?",
    ),
    "resize_up": (
        "can {subj} be bigger?",
        "could you enlarge {subj} a bit?",
        "how about making {subj} larger?",
        "could {subj} go up a size?",
        "can you make {subj} one size bigger?",
    ),
    "resize_down": (
        "can {subj} be smaller?",
        "could you shrink {subj} a bit?",
        "how about making {subj} smaller?",
        "could {subj} go down a size?",
        "can you make {subj} one size smaller?",
    ),
    "reshape": (
        "can {subj} be {shape_np}?",
        "could {subj} become {shape_np}?",
        "how about turning {subj} into {shape_np}?",
        "can we make {subj} {shape_np}?",
        "why not turn {subj} into {shape_np}?",
    ),
    "remove": (
        "can {subj} go?",
        "could we get rid of {subj}?",
        "how about removing {subj}?",
        "can you delete {subj}?",
        "why not remove {subj}?",
        "could {subj} be removed?",
        "do we need {subj}?",
    ),
    "add": (
        "can we have {obj} in {region}?",
        "could you add {obj} to {region}?",
        "how about {obj} in {region}?",
        "can there be {obj} in {region}?",
        "why not add {obj} to {region}?",
    ),
    "background": (
        "can the background be {bg}?",
        "could the backdrop be {bg} instead?",
        "how about making the background {bg}?",
        "can we have the background in {bg}?",
        "why not make the background {bg}?",
        "could we get a {bg} background?",
        "can the canvas be {bg}?",
    ),
}

#: How an instruction holding a saying is dressed (a polite verb wrapper would not fit a statement).
SAYING_WRAPPERS: Final[tuple[str, ...]] = (
    "{c}.",
    "{c}",
    "{c}, please.",
    "{c}, thanks.",
    "{c}!",
    "Hi, {c}.",
    "Hmm, {c}.",
    "Please, {c}.",
    "{c}. Thanks!",
    "Honestly, {c}.",
    "Okay so {c}.",
)

#: How a question is dressed.
QUESTION_WRAPPERS: Final[tuple[str, ...]] = ("{c}", "Hi, {c}", "Hmm, {c}", "Quick one: {c}")

#: How a whole instruction is dressed: polite, terse, indirect.
WRAPPERS: Final[tuple[str, ...]] = (
    "{c}.",
    "Please {c}.",
    "{c}, please.",
    "Could you {c}?",
    "Can you {c}?",
    "Would you {c}?",
    "I'd like you to {c}.",
    "I want you to {c}.",
    "Kindly {c}.",
    "{c} for me.",
    "Go ahead and {c}.",
    "{c}, thanks.",
    "Just {c}.",
    "{c}",
    "Would you please {c}?",
)

#: Two clauses, A executed before B, written A first.
FORWARD: Final[tuple[str, ...]] = (
    "{A}, then {B}",
    "{A} and then {B}",
    "first {A}, then {B}",
    "{A}; after that, {B}",
    "{A}. Next, {B}",
    "{A}, and afterwards {B}",
    "after you {A}, {B}",
    "{A}. Once that's done, {B}",
    "{A}; then {B}",
    "once you {A}, {B}",
    "{A}, and after that {B}",
    "{A}. When that is done, {B}",
)

#: Two clauses, A executed before B, written B first: the written order differs from the execution order.
REVERSED: Final[tuple[str, ...]] = (
    "{B} after you {A}",
    "{B}, but first {A}",
    "before you {B}, {A}",
    "{B}. Before that, {A}",
    "{B}, but before that, {A}",
    "{B}, but only after you {A}",
    "{B}; do it after you {A}",
    "{B}. Do that after you {A}",
    "{B} once you {A}",
    "{B} - but {A} first",
    "{B}, though you should first {A}",
)

#: Two independent clauses (either order is valid).
BOTH: Final[tuple[str, ...]] = (
    "{A} and {B}",
    "{A}, and also {B}",
    "{A}; also {B}",
    "{A}, plus {B}",
    "{A}, and {B} as well",
    "{A}. Also, {B}",
)

#: Joins consecutive segments, in execution order.
JOINERS: Final[tuple[str, ...]] = (
    ". Then ",
    ". After that, ",
    ". Next, ",
    "; then ",
    ", then ",
    ". Afterwards, ",
    ". Following that, ",
)
FINAL_JOINERS: Final[tuple[str, ...]] = (". Finally, ", ". Lastly, ", ", and finally ", ". To finish, ")

#: Region names in running text.
REGION_PHRASES: Final[dict[str, tuple[str, ...]]] = {
    "top left": ("the top left", "the top left corner", "the upper left corner", "the top-left corner", "the upper left"),
    "top right": ("the top right", "the top right corner", "the upper right corner", "the top-right corner", "the upper right"),
    "bottom left": ("the bottom left", "the bottom left corner", "the lower left corner", "the bottom-left corner", "the lower left"),
    "bottom right": ("the bottom right", "the bottom right corner", "the lower right corner", "the bottom-right corner", "the lower right"),
    "top": ("the top", "the top middle", "the top edge", "the middle of the top"),
    "bottom": ("the bottom", "the bottom middle", "the bottom edge", "the middle of the bottom"),
    "left": ("the left", "the left side", "the middle of the left side", "the left edge"),
    "right": ("the right", "the right side", "the middle of the right side", "the right edge"),
    "centre": ("the centre", "the middle", "the center", "the very middle"),
}

SIZE_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "small": ("small", "tiny", "little", "mini", "small-sized"),
    "medium": ("medium", "medium-sized", "mid-sized", "middling", "average-sized"),
    "large": ("large", "big", "huge", "giant", "large-sized"),
}

#: Words for each background, as people write them (the ground truth keeps the canonical name).
BACKGROUND_WORDS: Final[dict[str, tuple[str, ...]]] = {
    "white": ("white", "plain white"),
    "cream": ("cream", "cream-coloured"),
    "light blue": ("light blue", "pale blue"),
    "light gray": ("light gray", "light grey", "pale grey"),
}

#: Knowledge phrases: the world knowledge that names a colour, shape or background without saying it.
KNOWN_COLORS: Final[dict[str, tuple[str, ...]]] = {
    "green": ("the colour of grass", "the colour of a fresh leaf", "the colour of an emerald", "the colour of a lime", "the colour of a frog"),
    "blue": ("the colour of a clear sky", "the colour of the deep sea", "the colour of a blueberry", "the colour of a sapphire", "the colour of denim"),
    "red": ("the colour of a ripe tomato", "the colour of a fire truck", "the colour of a strawberry", "the colour of a stop sign", "the colour of a ruby"),
    "yellow": ("the colour of a ripe banana", "the colour of a lemon", "the colour of a canary", "the colour of a sunflower", "the colour of an egg yolk"),
    "orange": ("the colour of a pumpkin", "the colour of a carrot", "the colour of a tangerine", "the colour of a traffic cone", "the colour of a goldfish"),
    "purple": ("the colour of an aubergine", "the colour of lavender", "the colour of grape juice", "the colour of an amethyst", "the colour of a plum"),
    "pink": ("the colour of a flamingo", "the colour of bubble gum", "the colour of a cherry blossom", "the colour of candy floss", "the colour of a piglet"),
    "brown": ("the colour of chocolate", "the colour of tree bark", "the colour of coffee beans", "the colour of a walnut", "the colour of a bear's fur"),
    "black": ("the colour of coal", "the colour of a raven", "the colour of ink", "the colour of a moonless night", "the colour of a tuxedo"),
}
KNOWN_SHAPES: Final[dict[str, tuple[str, ...]]] = {
    "hexagon": ("the shape of a honeycomb cell", "the shape of a nut on a bolt", "the shape of a snowflake's outline", "the shape of a benzene ring", "the shape of a pencil's cross-section"),
    "triangle": ("the shape of a slice of pizza", "the shape of a yield sign", "the shape of a pyramid's face", "the shape of a sail", "the shape of a coat hanger"),
    "circle": ("the shape of a coin", "the shape of a full moon", "the shape of a wheel", "the shape of a pizza", "the shape of a clock face"),
    "square": ("the shape of a chessboard square", "the shape of a postage stamp", "the shape of a die's face", "the shape of a sticky note", "the shape of a window pane"),
    "star": ("the shape of a starfish", "the shape of a sheriff's badge", "the shape on top of a Christmas tree", "the shape of a gold star sticker", "the shape of a shooting star"),
    "diamond": ("the shape of a kite", "the shape of the diamond suit on playing cards", "the shape of a rhombus standing on its tip", "the shape of a baseball infield", "the shape of a road-sign warning board"),
}
KNOWN_BACKGROUNDS: Final[dict[str, tuple[str, ...]]] = {
    "white": ("the colour of fresh snow", "the colour of milk", "the colour of printer paper", "the colour of chalk", "the colour of a polar bear"),
    "cream": ("the colour of vanilla ice cream", "the colour of old parchment", "the colour of ivory", "the colour of custard", "the colour of buttermilk"),
    "light blue": ("the colour of a pale morning sky", "the colour of a robin's egg", "the colour of baby clothes for a boy", "the colour of shallow sea water", "the colour of forget-me-nots"),
    "light gray": ("the colour of pale fog", "the colour of a rain cloud", "the colour of pale concrete", "the colour of ash", "the colour of a pigeon's wing"),
}

#: Wording of the explicit (rewritten) instruction: one fixed clause per action, the form the Canvas editor reads.
EXPLICIT: Final[dict[str, str]] = {
    "recolor": "make {subj} {color}",
    "move": "move {subj} to the {region}",
    "resize": "make {subj} {size}",
    "reshape": "turn {subj} into {shape_np}",
    "remove": "remove {subj}",
    "add": "add {obj} in the {region}",
    "background": "change the background to {bg}",
}

HOLD_OUT_EVERY = 5
PAIR_HOLD_OUT_MOD = 9


def template_id(family: str, index: int) -> str:
    return f"{family}.{index:02d}"


def is_held_out(tid: str) -> bool:
    """Every HOLD_OUT_EVERY-th template of a family (index 4, 9, 14, ...) is for the test split only.

    >>> is_held_out("recolor.04"), is_held_out("recolor.03")
    (True, False)
    """
    return int(tid.rsplit(".", 1)[1]) % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1


def is_held_out_pair(a: str, b: str) -> bool:
    """A stable hashed ~1/9 of template pairs is held out for the test split."""
    first, second = sorted((a, b))
    return zlib.crc32(f"{first}|{second}".encode()) % PAIR_HOLD_OUT_MOD == 0


def uses_held_out(template_ids: list[str]) -> bool:
    """True if the instruction built from `template_ids` uses a held-out template or template pair."""
    if any(is_held_out(t) for t in template_ids):
        return True
    unique = sorted(set(template_ids))
    return any(is_held_out_pair(a, b) for i, a in enumerate(unique) for b in unique[i + 1:])


def template_counts() -> dict[str, int]:
    """Number of templates per family (reported by the coverage benchmark)."""
    counts = {f"clause:{k}": len(v) for k, v in CLAUSES.items()}
    counts["clause:resize(all)"] = len(CLAUSES["resize"]) + len(CLAUSES["resize_up"]) + len(CLAUSES["resize_down"])
    counts.update({f"saying:{k}": len(v) for k, v in SAYINGS.items()})
    counts.update({f"question:{k}": len(v) for k, v in QUESTIONS.items()})
    counts.update(wrappers=len(WRAPPERS) + len(SAYING_WRAPPERS) + len(QUESTION_WRAPPERS), forward=len(FORWARD), reversed=len(REVERSED), both=len(BOTH), joiners=len(JOINERS) + len(FINAL_JOINERS))
    return counts
