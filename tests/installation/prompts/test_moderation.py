import json
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ConfigError, EngineError
from installation.prompts.moderation import (
    DECLINED,
    DEFAULT_ALLOWLIST,
    DEFAULT_BLOCKLIST,
    DEFAULT_CONCEPTS,
    ModerationError,
    Moderator,
    fold,
    load_allowlist,
    load_blocklist,
    load_concepts,
    phrase_pattern,
)

SETS = Path(__file__).resolve().parent / "moderation_sets"


def prompts(name: str) -> list[str]:
    """The prompts of one test set: one a line, "#" comment lines and blank lines skipped."""
    lines = (SETS / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


DISGUISED = prompts("disguised.txt")
HARMLESS = prompts("harmless.txt") + prompts("harmless_heldout.txt")
VIOLENT = prompts("violent_hateful.txt")
VIOLENT_HELDOUT = prompts("violent_hateful_heldout.txt")


@pytest.fixture(scope="module")
def bad():
    """A moderator blocking only made-up words, so the tests read plainly."""
    return Moderator(["bad", "ass", "kill you", "grim*"], default_list=False)


def blocked(moderator, text) -> bool:
    return not moderator.check(text).allowed


@pytest.mark.parametrize(
    "text",
    [
        "bad",
        "BAD",
        "Bad!",
        "so bad.",
        "b4d",
        "8@d",
        "ba d",
        "b a d",
        "b.a.d",
        "b-a-d",
        "b_a_d",
        "b . a . d",
        "baaad",
        "bbbaaaddd",
        "b a a a d",
        "ｂａｄ",
        "bád",
        "b\u200bad",
        "bаd",  # Cyrillic а
        "𝐛𝐚𝐝",
        "ⓑⓐⓓ",
        "bads",
        "a$$",
        "4ss",
        "@$5",
        "a s s",
        "asses",
    ],
)
def test_disguised_words_are_blocked(bad, text):
    """Case, leetspeak, spacing, punctuation, repetition, accents, invisible and look-alike letters are seen through."""
    assert blocked(bad, text)


@pytest.mark.parametrize(
    "text",
    [
        "assassin",
        "classic",
        "bass guitar",
        "passage",
        "embassy",
        "badge",
        "abad",
        "badminton",
        "sabbath",
        "a harbour at dusk",
        "as seen",
        "a sea",
        "skill yourself up",
        "killjoy",
        "pilgrim",
    ],
)
def test_whole_words_only_no_false_positives(bad, text):
    """Blocked words inside longer innocent words, or spread over innocent neighbours, pass."""
    assert not blocked(bad, text)


def test_phrases_match_across_spaces_and_disguises(bad):
    """A blocked phrase matches with any spacing and leetspeak, but not its words alone."""
    for text in ["kill you", "k1ll   y0u", "killyou", "KILL-YOU"]:
        assert blocked(bad, text)
    assert not blocked(bad, "kill") and not blocked(bad, "you")


def test_trailing_star_matches_longer_words(bad):
    """'grim*' blocks 'grimly' and 'grimace', but not 'pilgrim'."""
    assert blocked(bad, "grimace") and blocked(bad, "gr1mly")
    assert not blocked(bad, "pilgrim")


def test_one_stands_for_i_and_l():
    """'1' is read as both 'i' and 'l', even next to each other."""
    m = Moderator(["kill"], default_list=False)
    assert all(blocked(m, t) for t in ["k1ll", "ki11", "k111"])


def test_reason_is_neutral_and_never_echoes_the_word(bad):
    """The declined reason is the neutral sentence and does not contain the matched word."""
    result = bad.check("a very b.a.d idea")
    assert result == type(result)(False, DECLINED, "blocklist")
    assert "bad" not in result.reason.lower()


def test_allowed_prompt_has_no_reason(bad):
    """An allowed prompt comes back allowed with an empty reason."""
    assert bad.check("lanterns over a winter lake").allowed


def test_phrases_can_be_added_and_removed_at_run_time():
    """Operators add and remove phrases while it runs; each change takes effect at once."""
    m = Moderator(default_list=False)
    assert not blocked(m, "turnip")
    assert m.add_phrase("Turnip") and not m.add_phrase("turnip")
    assert blocked(m, "TURN1P")
    assert m.remove_phrase("turnip") and not m.remove_phrase("turnip")
    assert not blocked(m, "turnip")


def test_a_phrase_without_letters_is_refused():
    """An empty or punctuation-only phrase is a ConfigError, not a pattern that matches everything."""
    with pytest.raises(ConfigError):
        Moderator(default_list=False).add_phrase(" .. ")


def test_concurrent_changes_and_checks_do_not_break():
    """Checks from one thread and edits from another never raise."""
    m = Moderator(default_list=False)
    errors = []

    def edit():
        for i in range(200):
            m.add_phrase(f"word{i}x")
            m.remove_phrase(f"word{i}x")

    def check():
        try:
            for _ in range(400):
                m.check("a quiet harbour")
        except Exception as exc:  # pragma: no cover - the failure this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=edit), threading.Thread(target=check)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_default_list_loads_and_blocks_common_abuse():
    """The shipped English list loads, blocks common abuse in disguise, and passes everyday art prompts."""
    phrases = load_blocklist(DEFAULT_BLOCKLIST)
    assert 30 <= len(phrases) <= 300
    m = Moderator()
    for text in ["f u c k", "sh1t", "a$$hole", "k1ll yourself", "p0rn0graphy"]:
        assert blocked(m, text), text
    for text in [
        "a rooster at dawn",
        "blue tits in a hedge",
        "rapeseed fields in bloom",
        "Scunthorpe at night",
        "Moby Dick and the whale",
        "a therapist's calm office",
        "classic oil painting",
        "assassin's creed",
        "cocktail party",
        "Essex marshes",
        "the sextant of a ship",
        "a grape harvest",
    ]:
        assert not blocked(m, text), text


def test_block_list_file_comments_and_errors(tmp_path):
    """Block-list files skip comments and blank lines; a bad line names the file and line number."""
    good = tmp_path / "extra.txt"
    good.write_text("# a comment\n\nturnip  # inline comment\nparsnip*\n")
    assert load_blocklist(good) == ["turnip", "parsnip*"]
    m = Moderator.from_file(good, default_list=False)
    assert blocked(m, "parsnips") and blocked(m, "turnip")
    broken = tmp_path / "broken.txt"
    broken.write_text("ok\n!!!\n")
    with pytest.raises(ConfigError, match=r"broken.txt:2"):
        load_blocklist(broken)
    with pytest.raises(ConfigError, match="missing.txt"):
        load_blocklist(tmp_path / "missing.txt")


def test_fold_sees_through_unicode_tricks():
    """fold() applies NFKC, case, accents, invisible characters and look-alike letters."""
    assert fold("ＦÚ\u00adＮ  Тime") == "fun time"


def test_pathological_input_stays_fast(bad):
    """Long runs built to make regexes backtrack are still checked (a correctness check, no timing)."""
    for text in ["s " * 140, "a" + "s" * 279, "b." * 140, "1" * 280]:
        bad.check(text)


def test_patterns_are_plain_regexes():
    """phrase_pattern() gives one regular expression per phrase (for operators' tooling)."""
    assert isinstance(phrase_pattern("bad"), str)


# -- the semantic check ------------------------------------------------------------------------------
VOCAB = ["storm", "thunder", "rain", "flower", "garden", "sun", "blood", "wound", "knife", "sea", "boat"]


def toy_embed(texts: list[str]) -> np.ndarray:
    """A deterministic bag-of-words embedding over a tiny vocabulary, L2-normalised."""
    rows = np.zeros((len(texts), len(VOCAB) + 1), np.float32)
    for i, text in enumerate(texts):
        words = text.lower().split()
        for j, w in enumerate(VOCAB):
            rows[i, j] = sum(word.startswith(w) for word in words)
        rows[i, -1] = 0.1  # nothing is the zero vector
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_semantic_check_declines_prompts_close_to_a_blocked_concept():
    """A prompt whose embedding is near a blocked concept is declined with the neutral reason."""
    m = Moderator(default_list=False, embed=toy_embed, blocked_concepts=["blood and wound from a knife"], threshold=0.6)
    result = m.check("a knife, blood everywhere")
    assert not result.allowed and result.rule == "semantic" and result.score >= 0.6
    assert result.reason == DECLINED
    ok = m.check("a garden of flowers in the sun")
    assert ok.allowed and ok.score < 0.6


def test_concepts_can_be_added_and_removed():
    """Blocked concepts change at run time; the concept embeddings are recomputed."""
    m = Moderator(default_list=False, embed=toy_embed)
    assert m.check("storm and thunder at sea").allowed
    assert m.add_concept("thunder storm") and not m.add_concept("thunder storm")
    assert not m.check("storm and thunder").allowed
    assert m.remove_concept("thunder storm")
    assert m.check("storm and thunder").allowed


def test_block_list_runs_before_the_semantic_check():
    """A blocked word is declined by the list without asking the embedding function."""
    calls = []

    def counting_embed(texts):
        calls.append(texts)
        return toy_embed(texts)

    m = Moderator(["bad"], default_list=False, embed=counting_embed, blocked_concepts=["storm"])
    assert m.check("b4d").rule == "blocklist" and not calls


def test_broken_embedding_function_raises_a_moderation_error():
    """An embedding function that fails or returns the wrong shape raises ModerationError (an EngineError)."""

    def failing(texts):
        raise RuntimeError("model not loaded")

    with pytest.raises(ModerationError, match="model not loaded"):
        Moderator(default_list=False, embed=failing, blocked_concepts=["x"]).concept_similarity("hello")
    with pytest.raises(ModerationError, match="shape"):
        Moderator(default_list=False, embed=lambda t: np.ones(3), blocked_concepts=["x"]).concept_similarity("hello")
    assert issubclass(ModerationError, EngineError)


def test_a_broken_semantic_check_leaves_the_block_list_working_and_warns_once(caplog):
    """check() with a failing model still declines listed words, allows the rest, and warns once, not per prompt;
    recovery is said too."""
    broken = {"now": True}

    def flaky(texts):
        if broken["now"]:
            raise RuntimeError("model not loaded")
        return toy_embed(texts)

    m = Moderator(["bad"], default_list=False, embed=flaky, blocked_concepts=["storm"])
    with caplog.at_level("WARNING", logger="installation.prompts.moderation"):
        assert m.check("b4d").rule == "blocklist"
        assert [m.check("a calm sea").rule for _ in range(5)] == ["semantic-unavailable"] * 5
        broken["now"] = False
        assert not m.check("storm").allowed
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "not running" in messages[0] and "runs again" in messages[1]


def test_concepts_without_an_embedding_function_are_a_config_error():
    """Asking for blocked concepts without an embed function fails at construction."""
    with pytest.raises(ConfigError):
        Moderator(blocked_concepts=["gore"], default_list=False)


# -- issue 13: disguises, words inside words, the allow-list -----------------------------------------
@pytest.fixture(scope="module")
def shipped():
    """The moderator a show gets by default, without the semantic check: shipped block and allow lists."""
    return Moderator()


def test_the_test_sets_are_the_sizes_the_report_quotes():
    """The disguised, harmless and violent sets load (a set that silently emptied would pass every test)."""
    assert len(DISGUISED) >= 80 and len(HARMLESS) >= 200 and len(VIOLENT) == 40 and len(VIOLENT_HELDOUT) == 20


@pytest.mark.parametrize("text", DISGUISED)
def test_every_disguised_word_in_the_set_is_declined(shipped, text):
    """Each disguise from issue 13 (small capitals, Armenian, Cyrillic, Cherokee, U+0192, Hangul fillers, spaced
    letters, compounds, inflections, sh!t, fvck, regional indicators...) is declined by the block list alone."""
    assert blocked(shipped, text), ascii(text)


def test_no_harmless_prompt_is_declined_by_the_block_list(shipped):
    """None of ~200 gallery prompts, Scunthorpe words and dark art subjects included, is declined."""
    assert [t for t in HARMLESS if blocked(shipped, t)] == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("\ua731\u029c\u026a\u1d1b", "shit"),  # small capitals
        ("s\u0570it f\u057dck", "shit fuck"),  # Armenian ho and seh
        ("\u0455\u04bb\u0456t", "shit"),  # Cyrillic dze, shha, i
        ("\u13da\u13bb\u13a5\u13a2", "shit"),  # Cherokee
        ("\u0192uck", "fuck"),  # U+0192 f with hook
        ("sh\u3164it fu\u1160ck wh\uffa0ore", "shit fuck whore"),  # Hangul fillers
        ("\U0001f1f8\U0001f1ed\U0001f1ee\U0001f1f9", "shit"),  # regional indicators
        ("\U0001f175\U0001f184", "fu"),  # negative squared letters
        ("s\u0336h\u0336i\u0336t\u0336", "shit"),  # strike-through marks
        ("caf\u00e9  \u2003 cr\u00e8me", "cafe creme"),  # accents and odd spaces
    ],
)
def test_fold_maps_look_alike_letters_from_any_script_to_ascii(text, expected):
    """fold() reduces letters from other scripts, small capitals, regional indicators and fillers to plain ASCII."""
    assert fold(text) == expected


def test_fold_leaves_real_words_in_other_scripts_readable():
    """Letters with no Latin look-alike stay as they are (fold is for matching, not a transliterator)."""
    assert fold("\u6771\u4eac") == "\u6771\u4eac"


def test_globs_match_inside_words_and_plain_phrases_with_inflections():
    """'*bad*' matches inside any word, '*bad' at word ends, 'bad' whole words with inflections only."""
    inside = Moderator(["*bad*"], default_list=False, default_allowlist=False)
    assert all(blocked(inside, t) for t in ["superbad", "badness", "un-bad-ly", "b a d"])
    ending = Moderator(["*bad"], default_list=False, default_allowlist=False)
    assert blocked(ending, "superbad") and blocked(ending, "superbads") and not blocked(ending, "badminton")
    plain = Moderator(["bad"], default_list=False, default_allowlist=False)
    assert all(blocked(plain, t) for t in ["bads", "badding", "badder", "baddy", "bad's"])
    assert not any(blocked(plain, t) for t in ["superbad", "badminton", "abad"])


def test_inside_a_word_the_letters_must_be_contiguous():
    """A '*word*' match inside a word never spans a space, so 'push it' is not read as 'shit'."""
    m = Moderator(default_allowlist=False)
    for text in ["push it", "wash it off", "fish in the sea", "a fuchsia flower", "count it"]:
        assert not blocked(m, text), text
    assert blocked(m, "horseshit") and blocked(m, "horse shit")


def test_allow_list_excuses_only_the_innocent_word_itself(shipped):
    """Scunthorpe and shiitake pass; the same text with the real word beside them, or split apart, is declined."""
    assert not blocked(shipped, "Scunthorpe") and not blocked(shipped, "SCUNTH0RPE".replace("0", "o"))
    assert blocked(shipped, "Scunthorpe cunt") and blocked(shipped, "s cunt horpe")
    assert not blocked(shipped, "a therapist") and not blocked(shipped, "shiitake soup")
    assert blocked(Moderator(["*rapist*"], default_list=False), "the rapist")
    assert not blocked(Moderator(["*rapist*"], default_list=False), "the therapists")
    assert blocked(Moderator(["*rapist*"], default_list=False, default_allowlist=False), "therapist")


def test_operators_can_allow_more_words():
    """allowed_words adds innocent words on top of the shipped allow-list."""
    assert blocked(Moderator(), "Yoshitomo")
    m = Moderator(allowed_words=["Yoshitomo"])
    assert not blocked(m, "Yoshitomo") and "yoshitomo" in m.allowed_words and blocked(m, "horseshit")


def test_allow_list_file_loads_and_rejects_phrases(tmp_path):
    """The shipped allow-list loads; a line that is not one word names the file and line."""
    assert {
        "scunthorpe",
        "shiitake",
        "cocktail",
        "sussex",
        "assassin",
        "therapist",
        "dickens",
        "bass",
        "analysis",
    } <= set(load_allowlist(DEFAULT_ALLOWLIST))
    bad = tmp_path / "allow.txt"
    bad.write_text("fine\ntwo words\n")
    with pytest.raises(ConfigError, match=r"allow.txt:2"):
        load_allowlist(bad)


def _lookalikes() -> dict[str, list[str]]:
    """Single-character look-alikes of each ASCII letter, straight from the Unicode confusables data."""
    with resources.files("confusable_homoglyphs").joinpath("confusables.json").open(encoding="utf-8") as f:
        data = json.load(f)
    return {
        letter: [e["c"] for e in data.get(letter, []) if len(e["c"]) == 1 and not e["c"].isascii()]
        for letter in "abcdefghijklmnopqrstuvwxyz"
    }


LOOKALIKES = _lookalikes()
CORE = ["fuck", "shit", "cunt", "whore", "slut", "porn", "bitch", "twat", "wank"]


@st.composite
def disguised(draw: st.DrawFn) -> str:
    """A core blocked word with random tricks: look-alikes, case, fillers, separators, repeats, a compound."""
    word = draw(st.sampled_from(CORE))
    out = []
    for c in word:
        trick = draw(st.sampled_from(["plain", "upper", "lookalike", "repeat"]))
        if trick == "lookalike" and LOOKALIKES[c]:
            c = draw(st.sampled_from(LOOKALIKES[c]))
        elif trick == "upper":
            c = c.upper()
        elif trick == "repeat":
            c = c * draw(st.integers(2, 4))
        out.append(c)
    joiner = draw(st.sampled_from(["", "", "\u200b", "\u3164", "\u00ad", " ", " . ", "--", " _ "]))
    text = joiner.join(out)
    around = draw(st.sampled_from(["{}", "a {} painting", "{}ing", "horse{}", "{}s everywhere", '"{}"']))
    return around.format(text) if joiner.strip() == joiner or joiner == "" else text


@settings(max_examples=300, deadline=None)
@given(disguised())
def test_fuzzed_disguises_are_declined(shipped, text):
    """Random combinations of look-alikes (from the Unicode data), case, fillers, separators and repeats are seen
    through."""
    assert blocked(shipped, text), ascii(text)


# -- the semantic check with the real sentence model --------------------------------------------------
@pytest.fixture(scope="module")
def semantic(embedder):
    """The default show's moderator: shipped lists and concepts, the real all-MiniLM-L6-v2, threshold 0.5."""
    from installation.app import build_moderator
    from installation.config.schema import ShowConfig

    return build_moderator(ShowConfig(), embedder)


def test_the_default_show_runs_the_semantic_check_with_the_shipped_concepts(semantic):
    """By default the semantic check is on, with concepts_en.txt and threshold 0.5."""
    assert semantic.concepts == tuple(load_concepts(DEFAULT_CONCEPTS)) and semantic.threshold == 0.5


def test_semantic_check_declines_no_harmless_prompt(semantic, embedder):
    """With the shipped concepts at 0.5, none of the harmless prompts (dark art subjects included) is declined."""
    embedder(HARMLESS)  # one batch fills the embedder's cache; the checks below then only compare
    verdicts = {t: semantic.check(t) for t in HARMLESS}
    assert [(t, round(v.score, 3)) for t, v in verdicts.items() if not v.allowed] == []


def test_semantic_check_declines_violent_phrases_without_listed_words(semantic, embedder):
    """'kill all humans' and most of the violent set are declined although they use no block-listed word."""
    embedder(VIOLENT)
    verdict = semantic.check("kill all humans")
    assert not verdict.allowed and verdict.rule == "semantic"
    declined = [t for t in VIOLENT if not semantic.check(t).allowed]
    assert len(declined) >= 20, len(declined)


# Words of the sentence model's vocabulary that the shipped list declines: all of them on purpose.
MEANT = {
    "sex",
    "sexual",
    "shit",
    "ass",
    "suicide",
    "nazi",
    "fuck",
    "bitch",
    "sexy",
    "hitler",
    "fucking",
    "rape",
    "massacre",
    "sexually",
    "nazis",
    "gore",
    "orgasm",
    "cum",
    "genocide",
    "erotic",
    "nipple",
    "bullshit",
    "raped",
    "hooker",
    "whore",
    "penis",
    "pornography",
    "anal",
    "sexes",
    "fucked",
    "asshole",
    "porn",
    "pornographic",
    "nipples",
    "shitty",
    "beheaded",
}


def test_an_english_vocabulary_is_declined_only_where_meant(shipped):
    """Of the ~21,000 English words in all-MiniLM-L6-v2's vocabulary, only the intended ones are declined (this
    caught 'assess' and 'annals')."""
    from installation.prompts.embedding import default_model_path

    vocab = (default_model_path() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    words = [w for w in vocab if w.isalpha() and w.isascii() and len(w) > 2]
    assert len(words) > 20_000
    assert {w for w in words if blocked(shipped, w)} == MEANT


def test_a_two_faced_letter_is_read_both_ways(shipped):
    """The long s is an s that looks like an f: "ſuck" is declined as what the wall would show, while a word
    that only reads harmlessly either way ("ſtar") still passes."""
    assert blocked(shipped, "a \u017fuck painting")
    assert not blocked(shipped, "a \u017ftar over the sea")


def test_a_replacing_moderator_keeps_the_operators_block_list_edits():
    """A moderator built anew (a config reload) takes over the phrases the operator added and removed on the old
    one, whatever its own list says; carrying them over twice changes nothing more."""
    old = Moderator(["teal"], default_list=False)
    assert old.add_phrase("heron") and old.remove_phrase("teal")
    new = Moderator(["teal", "lanterns"], default_list=False)
    assert new.keep_edits_of(old) == 2 and new.keep_edits_of(old) == 0
    assert not new.check("a grey heron").allowed and new.check("a teal sea").allowed
    assert not new.check("many lanterns").allowed
