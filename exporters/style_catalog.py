"""What Laterna knows about its bundled style images: the artwork, and words for visitors' prompts.

Keys are the file stems in ``shared/data/styles``. The descriptions and tags are what the prompt
interpreter matches visitors' words against, so they describe what the style *looks like*.
"""

from __future__ import annotations

STYLE_CATALOG: dict[str, dict] = {
    "starry_night": {
        "artwork": "The Starry Night",
        "artist": "Vincent van Gogh",
        "year": "1889",
        "licence": "public domain",
        "description": "Swirling night sky full of stars and glowing moons, thick impasto brush strokes "
        "in deep ultramarine blue and cobalt with bursts of yellow light, a dark flame-like "
        "cypress and a sleeping village; restless, dreamy, post-impressionist.",
        "tags": [
            "night",
            "stars",
            "sky",
            "swirl",
            "blue",
            "yellow",
            "van gogh",
            "post-impressionism",
            "brush strokes",
            "dream",
            "moon",
            "village",
        ],
    },
    "great_wave": {
        "artwork": "The Great Wave off Kanagawa (crop)",
        "artist": "Katsushika Hokusai",
        "year": "c.1831",
        "licence": "public domain",
        "description": "A huge curling ocean wave with claw-like foam towering over boats, stormy sea in "
        "Prussian blue and cream, crisp woodblock-print outlines and flat colour; Japanese "
        "ukiyo-e, dramatic and powerful.",
        "tags": [
            "sea",
            "ocean",
            "wave",
            "water",
            "storm",
            "blue",
            "japan",
            "ukiyo-e",
            "woodblock",
            "hokusai",
            "foam",
            "boats",
        ],
    },
    "the_scream": {
        "artwork": "The Scream",
        "artist": "Edvard Munch",
        "year": "1893",
        "licence": "public domain (US; life+70)",
        "description": "A blood-red and orange sunset sky warping in waves over a dark fjord, an anguished "
        "figure on a bridge; anxious, haunting, expressionist, with long wavy strokes.",
        "tags": [
            "scream",
            "fear",
            "anxiety",
            "red",
            "orange",
            "sunset",
            "expressionism",
            "munch",
            "haunting",
            "fjord",
            "horror",
            "emotion",
        ],
    },
    "shipwreck": {
        "artwork": "The Shipwreck of the Minotaur",
        "artist": "J. M. W. Turner",
        "year": "c.1810",
        "licence": "public domain",
        "description": "A shipwreck in a violent storm at sea, huge grey-green waves and churning spray, "
        "boats tossed under a dark sky with a burst of pale light; romantic, turbulent, "
        "muted browns and sea greens.",
        "tags": [
            "shipwreck",
            "storm",
            "sea",
            "waves",
            "ship",
            "turner",
            "romanticism",
            "dark",
            "dramatic",
            "spray",
            "grey",
            "brown",
        ],
    },
    "composition_vii": {
        "artwork": "Composition VII",
        "artist": "Wassily Kandinsky",
        "year": "1913",
        "licence": "public domain (US; life+70)",
        "description": "An explosion of abstract shapes, lines and colour fields colliding, vivid reds, "
        "blues, yellows and blacks with no horizon; chaotic, musical, energetic abstract art.",
        "tags": [
            "abstract",
            "chaos",
            "colourful",
            "kandinsky",
            "shapes",
            "lines",
            "music",
            "energy",
            "vivid",
            "explosion",
            "modern art",
            "expressionism",
        ],
    },
    "udnie": {
        "artwork": "Udnie (Young American Girl, The Dance)",
        "artist": "Francis Picabia",
        "year": "1913",
        "licence": "public domain in the US and life+70 countries",
        "description": "Fragmented cubist planes and curved metallic shapes in steel grey, blue, ochre and "
        "pink, a dance broken into mechanical facets; geometric, modernist, cubist.",
        "tags": [
            "cubism",
            "geometric",
            "fragments",
            "dance",
            "machine",
            "picabia",
            "modernism",
            "grey",
            "pink",
            "ochre",
            "facets",
            "abstract",
        ],
    },
    "water_lilies": {
        "artwork": "Water Lilies",
        "artist": "Claude Monet",
        "year": "1919",
        "licence": "public domain",
        "description": "A calm pond with floating water lilies and soft reflections of sky and willows, "
        "dappled green, lilac and pink brushwork; peaceful, luminous, impressionist garden.",
        "tags": [
            "water",
            "lilies",
            "pond",
            "garden",
            "flowers",
            "calm",
            "peaceful",
            "monet",
            "impressionism",
            "green",
            "pink",
            "reflection",
        ],
    },
    "flowering_tree": {
        "artwork": "Flowering tree on gold ground",
        "artist": "attributed to Sakai Hoitsu",
        "year": "1761-1829",
        "licence": "public domain if the attribution holds",
        "description": "Delicate blossoming branches on a shimmering gold-leaf ground, white and pink "
        "flowers, fine ink lines; Japanese Rinpa screen painting, elegant, spring, serene.",
        "tags": [
            "blossom",
            "flowers",
            "tree",
            "gold",
            "spring",
            "japan",
            "rinpa",
            "elegant",
            "branches",
            "serene",
            "cherry",
            "screen painting",
        ],
    },
}


def style_entry(stem: str) -> dict:
    """Catalogue entry for a style image; a plain entry for images we know nothing about."""
    known = STYLE_CATALOG.get(stem)
    if known is not None:
        return {"name": stem, **known}
    words = stem.replace("_", " ").replace("-", " ")
    return {
        "name": stem,
        "artwork": words,
        "artist": "unknown",
        "year": "",
        "licence": "unknown",
        "description": f"The look of {words}.",
        "tags": words.split(),
    }
