"""The bucket proposal helper (python/internvl_opt/buckets.py): the dynamic
program against brute force, the readers and their errors."""

import itertools
import json
import random

import pytest

from internvl_opt import buckets


def brute(values, k):
    xs = sorted(set(values))
    best = None
    for r in range(1, min(k, len(xs)) + 1):
        for inner in itertools.combinations(xs[:-1], r - 1):
            bounds = list(inner) + [xs[-1]]
            pad = sum(min(b for b in bounds if b >= v) - v for v in values)
            if best is None or pad < best:
                best = pad
    return best


def test_dynamic_program_is_exact():
    rng = random.Random(5)
    for _ in range(60):
        values = [rng.randint(1, 40) for _ in range(rng.randint(1, 25))]
        k = rng.randint(1, 5)
        bounds, padding = buckets.best_buckets(values, k)
        assert padding == brute(values, k)
        assert bounds[-1] == max(values) and len(bounds) <= k
        assert bounds == sorted(set(bounds)) and set(bounds) <= set(values)
        assert padding == sum(min(b for b in bounds if b >= v) - v for v in values)


def test_proposal_stops_at_the_padding_target(tmp_path, capsys):
    data = tmp_path / "lengths.csv"
    data.write_text("tokens,tiles\n300,1\n900,3\n1000,3\n2000,7\n4000,13\n4100,13\n")
    assert buckets.main([str(data), "--max-padding", "0.05"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "proposal: seq=320,1024,2048,4160 tiles=3,7,13"
    assert "seq: 4 bucket(s) 320,1024,2048,4160: padding 1.5%" in out


def test_jsonl_counts_images_at_the_maximum_tiles(tmp_path, capsys):
    data = tmp_path / "ann.jsonl"
    lines = [{"image": "a.jpg", "length": 4000}, {"image": ["a", "b"], "length": 7000},
             {"length": 100}]
    data.write_text("\n".join(json.dumps(l) for l in lines) + "\n")
    assert buckets.main([str(data), "--max_dynamic_patch", "12", "--max-buckets", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "3 samples; tokens 100-7000, tiles 1-26"
    assert out[-1] == "proposal: seq=7040 tiles=26"


@pytest.mark.parametrize("text,message", [
    ('{"image": "a.jpg"}\n', "no 'length'"),
    ('{"length": "x"}\n', "length must be an integer >= 1, got 'x'"),
    ("[1]\n", "expected a JSON object"),
    ("{\n", "invalid JSON"),
    ('{"image": "a", "length": 100}\n', "100 tokens cannot hold 13 tiles x 256 image tokens"),
])
def test_bad_jsonl(tmp_path, capsys, text, message):
    data = tmp_path / "bad.jsonl"
    data.write_text(text)
    assert buckets.main([str(data)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("buckets: error: ") and message in err and "bad.jsonl" in err


def test_bad_csv_and_flags(tmp_path, capsys):
    data = tmp_path / "bad.csv"
    data.write_text("tokens\n100\n")
    assert buckets.main([str(data)]) == 1
    assert "lacks column(s) tiles" in capsys.readouterr().err
    assert buckets.main([str(tmp_path / "none.csv")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert buckets.main([str(data), "--max-buckets", "0"]) == 2
