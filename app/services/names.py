"""Readable random run names ("bold-owl-417"), as the official server gives unnamed runs."""
import random

_ADJECTIVES = (
    "able", "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "daring", "eager",
    "fair", "fast", "gentle", "glad", "golden", "grand", "honest", "keen", "kind", "lively",
    "lucky", "mellow", "merry", "nimble", "noble", "polite", "proud", "quiet", "rapid", "silent",
    "smart", "steady", "sunny", "swift", "tidy", "upbeat", "vivid", "warm", "wise", "zesty",
)
_NOUNS = (
    "ant", "bat", "bear", "bee", "bison", "crane", "crow", "deer", "dove", "eagle",
    "elk", "finch", "fox", "frog", "gecko", "goat", "hare", "hawk", "heron", "ibis",
    "koala", "lark", "lemur", "lion", "lynx", "mole", "moth", "newt", "otter", "owl",
    "panda", "puma", "raven", "robin", "seal", "shark", "sloth", "swan", "tiger", "wolf",
)


def random_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
