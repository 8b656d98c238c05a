"""`perceive_png` remembers what it saw, per image content, within a bounded cache."""

from agents import canvas_paint
from agents.canvas_paint import perceive_png
from envs.canvas.generator import generate_tasks
from envs.canvas.perception import perceive
from envs.image_io import load_image


def test_the_same_image_content_is_perceived_once_and_gives_the_uncached_answer():
    task = next(generate_tasks(1, seed=11, split="test"))
    first = perceive_png(task.source_png)
    again = perceive_png(bytes(bytearray(task.source_png)))  # equal bytes, another object
    assert again is first
    assert first == perceive(load_image(task.source_png))


def test_the_cache_keeps_only_the_most_recent_images(monkeypatch):
    monkeypatch.setattr(canvas_paint, "PERCEPTION_CACHE_SIZE", 2)
    monkeypatch.setattr(canvas_paint, "_PERCEPTIONS", type(canvas_paint._PERCEPTIONS)())
    a, b, c = (t.source_png for t in generate_tasks(3, seed=12, split="test"))
    seen_a = perceive_png(a)
    perceive_png(b)
    perceive_png(c)  # evicts a, the least recently used
    assert len(canvas_paint._PERCEPTIONS) == 2
    assert perceive_png(a) is not seen_a and perceive_png(a) == seen_a
