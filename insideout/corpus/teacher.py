"""The teacher corpus: thousands of distinct neutral sentences, spoken by the starter voices in every emotion.

Text diversity, not training steps, is what lets a small Tacotron2 speak unseen sentences (trained on the
starter library's 60 sentences alone, it memorized them). The sentences come from templates over a neutral
vocabulary written for this purpose: no word carries an emotion, so the words never give the emotion away,
and the set is checked to use every English phoneme espeak-ng writes. Everything is deterministic for a seed.

render_corpus() speaks them with corpus.synth.render_clip into a folder of WAV files and a manifest
(manifest.jsonl, read by train.items_from_folder). It runs for hours: it appends one manifest line per
finished clip, so a stopped run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..emotions import EMOTION_IDS
from ..wav import SAMPLE_RATE

# -- the neutral vocabulary -----------------------------------------------------------------------

NAMES = ("Thomas", "George", "Judy", "Martin", "Helen", "Oliver", "Ruth", "Victor", "Nora", "Peter", "Julia",
         "Owen", "Sarah", "Hugo", "Vera", "Charles", "Agnes", "Walter", "Irene", "Joseph")
# (singular, plural)
NOUNS = (("table", "tables"), ("window", "windows"), ("chair", "chairs"), ("door", "doors"), ("book", "books"),
         ("lamp", "lamps"), ("box", "boxes"), ("cup", "cups"), ("plate", "plates"), ("bottle", "bottles"),
         ("basket", "baskets"), ("jacket", "jackets"), ("pencil", "pencils"), ("letter", "letters"),
         ("clock", "clocks"), ("map", "maps"), ("ladder", "ladders"), ("bucket", "buckets"),
         ("ticket", "tickets"), ("carpet", "carpets"), ("cabinet", "cabinets"), ("bicycle", "bicycles"),
         ("camera", "cameras"), ("measuring tape", "measuring tapes"), ("notebook", "notebooks"),
         ("envelope", "envelopes"), ("towel", "towels"), ("button", "buttons"), ("kettle", "kettles"),
         ("garage key", "garage keys"), ("thermometer", "thermometers"), ("shovel", "shovels"),
         ("pillow", "pillows"), ("jug", "jugs"), ("drawer", "drawers"), ("folder", "folders"),
         ("mountain bike", "mountain bikes"), ("yellow cloth", "yellow cloths"), ("machine", "machines"),
         ("thread", "threads"))
ADJECTIVES = ("green", "blue", "small", "large", "wooden", "metal", "square", "round", "narrow", "wide",
              "yellow", "brown", "plain", "short", "tall", "white", "gray", "thick", "thin", "usual")
PLACES = ("kitchen", "garden", "station", "office", "hallway", "library", "garage", "workshop", "market",
          "basement", "classroom", "bathroom", "village", "corner", "shed", "bridge", "harbor", "museum",
          "warehouse", "treasury")
PREPOSITIONS = ("in", "near", "behind", "beside", "under", "inside", "next to", "across from")
VERBS = (("moved", "move"), ("painted", "paint"), ("measured", "measure"), ("washed", "wash"),
         ("carried", "carry"), ("opened", "open"), ("checked", "check"), ("fixed", "fix"),
         ("counted", "count"), ("cleaned", "clean"), ("sorted", "sort"), ("wrapped", "wrap"),
         ("labeled", "label"), ("weighed", "weigh"), ("shared", "share"), ("borrowed", "borrow"),
         ("returned", "return"), ("ordered", "order"), ("changed", "change"), ("judged the size of", "judge"))
TIMES = ("on Monday", "on Tuesday", "on Thursday", "this morning", "at noon", "in the evening", "last week",
         "yesterday", "before lunch", "after work", "at nine", "at half past three", "in June", "in August",
         "every day", "twice a week")
NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "fifteen",
           "twenty", "thirty", "forty", "sixty", "a hundred")
COLORS_OF_THINGS = ("the usual color", "a pale shade", "a dark shade", "the same size", "a new model")

TEMPLATES = (
    "The {adj} {noun} is {prep} the {place}.",
    "{name} {verb_past} the {adj} {noun} {time}.",
    "Please put the {noun} {prep} the {place}.",
    "There are {number} {nouns} in the {place}.",
    "{name} will {verb} the {noun} {time}.",
    "Is the {adj} {noun} {prep} the {place}?",
    "The {place} opens {time}, and {name} brings the {nouns}.",
    "{name} and {name2} {verb_past} {number} {nouns}.",
    "We keep the {adj} {nouns} {prep} the {place}.",
    "The {noun} from the {place} is the {adj} one.",
    "{name} asked for {number} {adj} {nouns} {time}.",
    "Does {name} {verb} the {nouns} in the {place}?",
    "The {nouns} {prep} the {place} are {colors}.",
    "{name} thinks the {noun} is {prep} the {place}.",
)

# Words that name or carry an emotion: none may appear in a teacher sentence (checked by the tests).
_EMOTION_WORD_LIST = """
happy happily happiness sad sadly sadness angry angrily anger fear fearful afraid scared scary fright
frightened disgust disgusted disgusting surprise surprised surprising calm calmly joy joyful glad love
loved lovely hate hated upset mad cry cried crying laugh laughed smile smiled worry worried anxious
nervous terrible awful wonderful great horrible excited exciting delighted furious shock shocked
gloomy cheerful miserable lonely proud ashamed shame sorry grief pleased annoyed bored jealous
"""
EMOTION_WORDS = frozenset(_EMOTION_WORD_LIST.split())

# The symbols of text.PHONEMES that espeak-ng's en-us voice writes: the coverage check's target.
ENGLISH_PHONEMES = frozenset(
    list("pbtdkɡfvθðszʃʒhmnŋlɹwjɾʔ")  # consonants (tʃ and dʒ are written t+ʃ and d+ʒ)
    + list("iɪeɛæɑɔʊuʌəɚɜaoɐᵻ")  # vowels; diphthongs are written as two of these
    + list("ˈˌː")  # primary and secondary stress, length
)


def teacher_sentences(count: int = 4000, seed: int = 0) -> list[str]:
    """count distinct sentences (deterministic for a seed), templates taken in turn."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < count:
        attempts += 1
        if attempts > count * 50:
            raise ValueError(f"the templates cannot give {count} distinct sentences")
        template = TEMPLATES[attempts % len(TEMPLATES)]

        def pick(options):
            return options[int(rng.integers(len(options)))]

        noun, nouns = pick(NOUNS)
        verb_past, verb = pick(VERBS)
        name = pick(NAMES)
        name2 = pick([n for n in NAMES if n != name])
        adj = pick(ADJECTIVES)
        sentence = template.format(
            adj=adj, noun=noun, nouns=nouns, prep=pick(PREPOSITIONS), place=pick(PLACES), name=name,
            name2=name2, verb_past=verb_past, verb=verb, time=pick(TIMES), number=pick(NUMBERS),
            colors=pick(COLORS_OF_THINGS),
        )
        sentence = sentence[0].upper() + sentence[1:]
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    return out


def words(sentence: str) -> list[str]:
    return re.findall(r"[a-z']+", sentence.lower())


def phoneme_coverage(sentences: list[str]) -> tuple[dict[str, int], set[str]]:
    """(count of each English phoneme in the sentences, the English phonemes that never appear)."""
    from ..tts.text import phonemize

    counts = {p: 0 for p in ENGLISH_PHONEMES}
    # Phonemizing sentence by sentence is slow; espeak-ng takes them joined just as well.
    for start in range(0, len(sentences), 50):
        for unit in phonemize(" ".join(sentences[start:start + 50])):
            if unit in counts:
                counts[unit] += 1
    return counts, {p for p, n in counts.items() if n == 0}


# -- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherClip:
    index: int
    text: str
    emotion: str
    voice: str
    seed: int

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.text}|{self.emotion}|{self.voice}|{self.seed}".encode()).hexdigest()[:16]


def plan_corpus(sentences: list[str], voices: tuple[str, ...], emotions_per_sentence: int = 1,
                seed: int = 0) -> list[TeacherClip]:
    """Each sentence in emotions_per_sentence emotions; emotion and voice rotate with the sentence, so
    every emotion gets every voice and many sentences."""
    if not voices:
        raise ValueError("no voice is available to render a teacher corpus")
    clips = []
    for i, text in enumerate(sentences):
        for k in range(emotions_per_sentence):
            e = (i + k * 3) % len(EMOTION_IDS)
            voice = voices[(i + k + i // len(EMOTION_IDS)) % len(voices)]
            clips.append(TeacherClip(len(clips), text, EMOTION_IDS[e], voice, seed * 1_000_003 + i))
    return clips


@dataclass
class RenderReport:
    made: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0


def _done_keys(manifest: Path) -> set[str]:
    if not manifest.is_file():
        return set()
    keys = set()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        try:
            keys.add(json.loads(line)["key"])
        except (ValueError, KeyError):
            continue  # a line torn by a crash: that clip is rendered again
    return keys


def render_corpus(folder: str | Path, clips: list[TeacherClip],
                  render: Callable[[str, str, str, int], tuple[np.ndarray, dict]] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  check_cancel: Callable[[], None] | None = None) -> RenderReport:
    """Render clips into folder/wav/*.wav and folder/manifest.jsonl, skipping those already listed."""
    import soundfile as sf

    if render is None:
        from .synth import render_clip as render
    folder = Path(folder)
    (folder / "wav").mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.jsonl"
    done = _done_keys(manifest)
    report = RenderReport()
    started = time.monotonic()
    with manifest.open("a", encoding="utf-8") as out:
        for n, clip in enumerate(clips, 1):
            if check_cancel is not None:
                check_cancel()
            if clip.key in done:
                report.skipped += 1
            else:
                try:
                    wave, provenance = render(clip.text, clip.emotion, clip.voice, clip.seed)
                except Exception:  # noqa: BLE001 - one bad clip must not stop hours of rendering
                    report.failed += 1
                    continue
                buffer = io.BytesIO()
                sf.write(buffer, wave, SAMPLE_RATE, format="WAV", subtype="PCM_16")
                data = buffer.getvalue()
                name = f"wav/{clip.key}.wav"
                tmp = folder / (name + ".tmp")
                tmp.write_bytes(data)
                tmp.replace(folder / name)  # the WAV is whole before its manifest line exists
                out.write(json.dumps({"key": clip.key, "file": name, "text": clip.text, "emotion": clip.emotion,
                                      "voice": clip.voice, "seed": clip.seed,
                                      "sha256": hashlib.sha256(data).hexdigest(),
                                      "duration_s": round(len(wave) / SAMPLE_RATE, 3),
                                      "engine": provenance.get("engine")}) + "\n")
                out.flush()
                report.made += 1
            if progress is not None:
                progress(n, len(clips))
    report.seconds = time.monotonic() - started
    return report
