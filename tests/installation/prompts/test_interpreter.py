from installation.prompts.interpreter import render_params


def test_stormy_sea_ranks_the_sea_paintings_above_udnie(interpreter):
    """'stormy sea, huge waves' ranks the Great Wave or Turner's shipwreck above Udnie."""
    ranking = interpreter.ranking("stormy sea, huge waves")
    assert ranking[0] in ("great_wave", "shipwreck")
    assert min(ranking.index("great_wave"), ranking.index("shipwreck")) < ranking.index("udnie")


def test_starry_sky_ranks_starry_night_first(interpreter):
    """'swirling night sky full of stars' ranks The Starry Night first."""
    assert interpreter.ranking("swirling night sky full of stars")[0] == "starry_night"


def test_mix_is_a_peaked_normalised_blend(interpreter):
    """A clear prompt gives a mix dominated by one style; weights sum to 1 over at most top-k styles."""
    result = interpreter.interpret("a calm pond with water lilies")
    named = result.mix.named(interpreter.names)
    assert max(named, key=named.get) == "water_lilies" and named["water_lilies"] > 0.5
    assert abs(sum(result.mix.weights) - 1.0) < 1e-6
    assert sum(w > 0 for w in result.mix.weights) <= interpreter.top_k


def test_interpretations_are_cached(interpreter):
    """The same words give the identical interpretation object from the cache."""
    assert interpreter.interpret("golden blossoms") is interpreter.interpret("golden blossoms")


def test_render_words():
    """Words set render parameters: subtle lowers strength, warm/cold shift warmth, calm raises smoothing."""
    assert render_params("a subtle hint of snow")["strength"] < 1.0
    assert render_params("warm sunset")["warmth"] > 0 > render_params("icy winter")["warmth"]
    assert render_params("calm lake")["smoothing"] > render_params("chaotic city")["smoothing"]


def test_tune_changes_the_mix_of_a_prompt_already_interpreted(embedder, shipped_manifest):
    """After tune() (a config reload) the same prompt is interpreted afresh with the new temperature and
    top-k, not served from the cache; top-k is clamped to the number of styles."""
    from installation.prompts.interpreter import Interpreter

    interp = Interpreter(embedder, list(shipped_manifest.styles), temperature=0.05, top_k=3)
    before = interp.interpret("stormy sea at night")
    interp.tune(temperature=5.0, top_k=1000)
    after = interp.interpret("stormy sea at night")
    assert interp.top_k == len(shipped_manifest.styles)
    assert (
        sum(w > 0 for w in after.mix.weights) == len(shipped_manifest.styles) > sum(w > 0 for w in before.mix.weights)
    )
