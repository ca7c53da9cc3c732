"""fastyaml reads the plain YAML mlreg writes without PyYAML: on every document it reads, its answer is the
one PyYAML's strict safe loader gives (files.parse_yaml with the fast path off); everything else it leaves to
PyYAML, errors included."""

from __future__ import annotations

import random
import string
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlreg.core import fastyaml
from mlreg.core.files import _DuplicateYamlKey, _strict_loader, dumps_yaml, parse_yaml
from mlreg.errors import MlregError


def pyyaml(data: bytes | str):
    return yaml.load(data, Loader=_strict_loader())


def agrees(data: bytes | str) -> bool:
    """True when the fast path read `data` (and then gave PyYAML's answer, else the test fails)."""
    found = fastyaml.parse(data)
    if found is fastyaml.MISS:
        return False
    expected = pyyaml(data)
    assert found == expected and _types(found) == _types(expected), data
    return True


def _types(doc):
    if isinstance(doc, dict):
        return {k: _types(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_types(v) for v in doc]
    return type(doc).__name__


def test_what_mlreg_writes_is_read_without_pyyaml(tmp_path):
    model = {
        "schema_version": 1,
        "name": "btc-1h",
        "description": "BTCUSDT perpetual, 1h bars: predicts the log return (LightGBM, huber loss) #1",
        "tags": {"team": "quant", "owner": "it's me", "yes": "no", "n": "0.5"},
        "aliases": {"champion": 3, "Staging": 12},
    }
    assert agrees(dumps_yaml(model))
    assert agrees(dumps_yaml({"schema_version": 1, "name": "m", "description": "", "tags": {}, "aliases": {}}))
    # and `show` does not import PyYAML for it
    code = "import sys; from mlreg.core.files import parse_yaml; parse_yaml(sys.stdin.buffer.read(), 'x'); "
    code += "print('yaml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], input=dumps_yaml(model), capture_output=True, check=True)
    assert out.stdout.strip() == b"False"
    settings = (Path(__file__).resolve().parents[1] / "mlreg.yaml").read_bytes()  # the example's lifecycle
    assert agrees(settings)


EDGES = [
    "a: yes\n",
    "a: Off\n",
    "a: NULL\n",
    "on: 1\n",
    "a: ~\n",
    "a: 1e5\n",
    "a: 1.0e+5\n",
    "a: 012\n",
    "a: 0x1F\n",
    "a: 1_000\n",
    "a: 1:30\n",
    "a: 2024-01-01\n",
    "a: .inf\n",
    "a: -.5\n",
    "a: +1\n",
    "a: -0\n",
    "a: 0.10\n",
    "a: b #c\n",
    "a: b#c\n",
    "a: b:c\n",
    "a: b: c\n",
    "a: b:\n",
    "a: 'it''s'\n",
    "a: '''\n",
    "a: 'x' # c\n",
    'a: "x\\ty"\n',
    'a: "say ""no"""\n',
    'a: "plain"\n',
    "a: x[1], {y}\n",
    "a: long\n  continued\n",
    "a: 'long\n  continued'\n",
    "a:\n  b: 1\n  c:\n    d: 2\n",
    "a:\n  b: 1\n c: 2\n",
    "a:\n  b: 1\n   c: 2\n",
    "a:\n\n  # note\n  b: 1\nc: {}\n",
    "a:\nb: []\n",
    "a: 1\na: 2\n",
    "a:\n  b: 1\n  b: 2\n",
    "a: &x 1\nb: *x\n",
    "a: !!str 1\n",
    "a: |\n  text\n",
    "- a\n- b\n",
    "a:\n- b\n",
    "---\na: 1\n",
    "a: 1\n...\n",
    "# only a comment\n",
    "",
    "a: b\tc\n",
    "a: b\r\nc: d\r\n",
    "\ufeffa: 1\n",
    "a: caf\u00e9\n",
    "a: \u00e9t\u00e9\n",
    "a: b\u00a0c\n",
    "a: b\u2028c\n",
    "a:  spaced   value   \n",
    "a: b\x7fc\n",
    "ключ: 1\n",
    "a.b/c-d_e: x\n",
    "<<: {a: 1}\n",
    "? a\n: b\n",
    "a: =\n",
    "a: nan\n",
    "A: y\n",
    "a:\n  to:\n  - x\n  - 'y'\n  b: false\n",
    "a:\n  - x\n  -\n",
    "a:\n- x\n  - y\n",
    "a:\n- x\n- - y\n",
    "a:\n- b: 1\n",
    "a:\n- x\nb:\n  - y\n  c: 1\n",
    "a:\n  b:\n    c:\n      d: ~\n  e: TRUE\n",
    "a:\n- long\n  item\n- 'quoted\n  item'\n",
    "- a\n",
    "  a: 1\n",
]


@pytest.mark.parametrize("text", EDGES)
def test_edge_cases_agree_or_go_to_pyyaml(text):
    try:
        expected = pyyaml(text)
    except (yaml.YAMLError, _DuplicateYamlKey, RecursionError):
        assert fastyaml.parse(text) is fastyaml.MISS
        assert fastyaml.parse(text.encode()) is fastyaml.MISS
        return
    for data in (text, text.encode()):
        found = fastyaml.parse(data)
        if found is not fastyaml.MISS:
            assert found == expected and _types(found) == _types(expected)


def test_the_subset_is_not_empty():
    """The edge cases the fast path takes (so the test above compares something)."""
    taken = [t for t in EDGES if fastyaml.parse(t) is not fastyaml.MISS]
    assert "a: 'it''s'\n" in taken and "a:\n\n  # note\n  b: 1\nc: {}\n" in taken and "a: -0\n" in taken
    assert "a: long\n  continued\n" in taken and "a: 'long\n  continued'\n" in taken
    assert "a: yes\n" in taken and "a:\n  to:\n  - x\n  - 'y'\n  b: false\n" in taken
    assert "on: 1\n" not in taken and "a: 1e5\n" not in taken and "a: &x 1\nb: *x\n" not in taken


WORDS = ["yes", "No", "OFF", "null", "true", "nan", "inf", "y", "x", "it's", "a:b", "a: b", "a #b", "a#b", "-1"]
CHARS = string.ascii_letters + string.digits + " _-.:#'\"{}[],&*!|>%@`?=~\\/é\u00a0"


def _scalar(rng: random.Random):
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randrange(-(10**12), 10**12)
    if kind == 1:
        return round(rng.uniform(-1e6, 1e6), rng.randrange(0, 8))
    if kind == 2:
        return rng.choice([None, True, False, ""])
    if kind == 3:
        return rng.choice(WORDS)
    if kind == 4:  # long enough that the dumper folds it onto more lines
        return " ".join(
            rng.choice(WORDS + ["alpha", "(beta,", "gamma)", "it's", "#7"]) for _ in range(rng.randrange(10, 40))
        )
    return "".join(rng.choice(CHARS) for _ in range(rng.randrange(1, 30)))


def _key(rng: random.Random) -> str:
    return (
        rng.choice(WORDS + ["name", "tags", "aliases", "Staging", "a.b", "k1"])
        if rng.random() < 0.5
        else ("".join(rng.choice(string.ascii_letters + "_-.") for _ in range(rng.randrange(1, 12))))
    )


def _doc(rng: random.Random, depth: int = 0) -> dict:
    doc = {}
    for _ in range(rng.randrange(1, 7)):
        roll = rng.random()
        if depth < 3 and roll < 0.25:
            doc[_key(rng)] = _doc(rng, depth + 1)
        elif roll < 0.3:
            doc[_key(rng)] = [_scalar(rng) for _ in range(rng.randrange(0, 3))]
        else:
            doc[_key(rng)] = _scalar(rng)
    return doc


def test_random_documents_written_by_mlreg_or_by_hand_agree():
    rng = random.Random(24)
    taken = 0
    for _ in range(1000):
        doc = _doc(rng)
        data = dumps_yaml(doc)
        assert pyyaml(data) == doc
        taken += agrees(data)
        # a person's hand: values unquoted where YAML lets them be, a comment, a ragged line
        lines = data.decode().splitlines()
        hand = "\n".join(line.replace("'", "") if rng.random() < 0.3 else line for line in lines)
        if rng.random() < 0.2:
            hand = hand.replace(": ", ":   ", 1) + "\n# the end\n"
        try:
            agrees(hand)
        except yaml.YAMLError:
            assert fastyaml.parse(hand) is fastyaml.MISS
    assert taken > 200  # the fast path reads a good share of them


def test_mutated_documents_agree_or_go_to_pyyaml():
    """Documents one to three characters away from what mlreg writes: wherever the fast path still reads one,
    its answer is PyYAML's."""
    rng = random.Random(7)
    alphabet = CHARS + "\n  -:'#"
    taken = 0
    for _ in range(2000):
        text = dumps_yaml(_doc(rng)).decode()
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.5 and at < len(text):
                text = text[:at] + text[at + 1 :]
            else:
                text = text[:at] + rng.choice(alphabet) + text[at:]
        try:
            taken += agrees(text)
        except (yaml.YAMLError, RecursionError):
            assert fastyaml.parse(text) is fastyaml.MISS, text
    assert taken > 200


def test_errors_stay_pyyaml_words():
    with pytest.raises(MlregError, match=r"m.yaml: line 2: duplicate key 'a'"):
        parse_yaml(b"a: 1\na: 2\n", "m.yaml")
    with pytest.raises(MlregError, match=r"m.yaml: malformed YAML"):
        parse_yaml(b"a: 'open\n", "m.yaml")
