"""Bucket proposals from a dataset's length statistics (issue 15's helper).

    python -m internvl_opt.buckets DATA [--max-padding 0.10] [--max-buckets 8]
                                   [--round 64] [--max_dynamic_patch 12]
                                   [--use_thumbnail True] [--image-tokens 256]

DATA is either
  * a JSONL of InternVL's annotation format, one sample per line, each with
    the precomputed `length` InternVL's group_by_length reads (text and image
    tokens; the script tokenizes when it is missing, which needs the model's
    tokenizer, so a line without it is an error here) and `image` (a path or
    a list of paths; none for text-only samples); each image is counted at
    max_dynamic_patch tiles (+ a thumbnail), as InternVL's length estimate
    counts them;
  * or a CSV with a header naming the columns `tokens` and `tiles`.

For the sequence lengths and, apart, the tile counts it finds the fewest
buckets whose padding (sum over samples of bucket - value, over the sum of
values) is at most --max-padding, with at most --max-buckets: an exact
dynamic program over the distinct values (rounded up to --round tokens),
the boundaries being observed values. Prints one line per bucket count tried
and the proposal as `proposal: seq=... tiles=...`, which internvl-import
--buckets takes as it is (one planned step per bucket).
"""

import argparse
import csv
import json
import math
import sys
from collections import Counter
from pathlib import Path


class DataError(Exception):
    """A problem with the input, naming the file, line and field."""


def read_samples(path: Path, tiles_per_image: int, image_tokens: int):
    """(tokens, tiles) per sample."""
    if not path.exists():
        raise DataError(f"{path}: cannot read: no such file")
    samples = []
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            missing = {"tokens", "tiles"} - set(reader.fieldnames or [])
            if missing:
                raise DataError(f"{path}: the header lacks column(s) "
                                f"{', '.join(sorted(missing))}; expected tokens,tiles")
            for n, row in enumerate(reader, start=2):
                samples.append((_count(path, n, "tokens", row["tokens"], 1),
                                _count(path, n, "tiles", row["tiles"], 0)))
    else:
        with path.open() as f:
            for n, text in enumerate(f, start=1):
                if not text.strip():
                    continue
                try:
                    item = json.loads(text)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}:{n}: invalid JSON: {e}") from None
                if not isinstance(item, dict):
                    raise DataError(f"{path}:{n}: expected a JSON object")
                if "length" not in item:
                    raise DataError(
                        f"{path}:{n}: no 'length' (InternVL's precomputed token "
                        "length); without it InternVL tokenizes the sample, which "
                        "needs the model's tokenizer: add lengths or give a CSV "
                        "of tokens,tiles")
                images = item.get("image")
                count = 0 if images is None else (
                    len(images) if isinstance(images, list) else 1)
                samples.append((_count(path, n, "length", item["length"], 1),
                                count * tiles_per_image))
    if not samples:
        raise DataError(f"{path}: no samples")
    # A sample must hold its image tokens.
    for n, (tokens, tiles) in enumerate(samples):
        if tokens < tiles * image_tokens:
            raise DataError(f"{path}: sample {n + 1}: {tokens} tokens cannot hold "
                            f"{tiles} tiles x {image_tokens} image tokens")
    return samples


def _count(path, line, field, value, minimum):
    try:
        v = int(value)
    except (TypeError, ValueError):
        v = None
    if v is None or isinstance(value, bool) or v < minimum or (
            isinstance(value, float) and not float(value).is_integer()):
        raise DataError(f"{path}:{line}: {field} must be an integer >= {minimum}, "
                        f"got {value!r}")
    return v


def best_buckets(values, k):
    """The k (or fewer) boundaries, each an observed value and the largest the
    maximum, that minimise total padding sum(bucket(v) - v); returns
    (boundaries, padding). Exact: O(k m^2) over the m distinct values."""
    counts = Counter(values)
    xs = sorted(counts)
    m = len(xs)
    k = min(k, m)
    # prefix[i]: samples among xs[:i]; weighted[i]: their sum.
    prefix, weighted = [0], [0]
    for x in xs:
        prefix.append(prefix[-1] + counts[x])
        weighted.append(weighted[-1] + counts[x] * x)

    def cost(i, j):  # values xs[i..j] padded to xs[j]
        return xs[j] * (prefix[j + 1] - prefix[i]) - (weighted[j + 1] - weighted[i])

    inf = math.inf
    # best[b][j]: least padding of xs[:j+1] with b buckets, the last ending at j.
    best = [[inf] * m for _ in range(k + 1)]
    back = [[-1] * m for _ in range(k + 1)]
    for j in range(m):
        best[1][j] = cost(0, j)
    for b in range(2, k + 1):
        for j in range(m):
            for i in range(b - 2, j):
                c = best[b - 1][i] + cost(i + 1, j)
                if c < best[b][j]:
                    best[b][j], back[b][j] = c, i
    b = min(range(1, k + 1), key=lambda b: (best[b][m - 1], b))
    padding = best[b][m - 1]
    bounds, j = [], m - 1
    while b >= 1 and j >= 0:
        bounds.append(xs[j])
        j = back[b][j]
        b -= 1
    return sorted(bounds), padding


def propose(values, max_padding, max_buckets):
    """Rows (k, boundaries, padding fraction) for k = 1.. until the padding
    is at most max_padding or k reaches max_buckets; the last row is the
    proposal."""
    total = sum(values)
    rows = []
    for k in range(1, max_buckets + 1):
        bounds, padding = best_buckets(values, k)
        fraction = padding / total if total else 0.0
        rows.append((len(bounds), bounds, fraction))
        if fraction <= max_padding or len(bounds) < k:
            break
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--max-padding", type=float, default=0.10)
    parser.add_argument("--max-buckets", type=int, default=8)
    parser.add_argument("--round", type=int, default=64,
                        help="round sequence lengths up to a multiple of this")
    parser.add_argument("--max_dynamic_patch", type=int, default=12)
    parser.add_argument("--use_thumbnail", default="True")
    parser.add_argument("--image-tokens", type=int, default=256,
                        help="tokens per tile (256 at 448 px, ratio 0.5)")
    args = parser.parse_args(argv)
    for name, value, low in (("--max-buckets", args.max_buckets, 1),
                             ("--round", args.round, 1),
                             ("--max_dynamic_patch", args.max_dynamic_patch, 1),
                             ("--image-tokens", args.image_tokens, 1)):
        if value < low:
            print(f"buckets: {name} must be at least {low}, got {value}", file=sys.stderr)
            return 2
    if not 0 <= args.max_padding < 10:
        print(f"buckets: --max-padding must be in [0, 10), got {args.max_padding}",
              file=sys.stderr)
        return 2
    thumbnail = args.use_thumbnail in ("True", "true", "1")
    tiles_per_image = args.max_dynamic_patch + (1 if thumbnail and args.max_dynamic_patch > 1 else 0)
    try:
        samples = read_samples(args.data, tiles_per_image, args.image_tokens)
    except DataError as e:
        print(f"buckets: error: {e}", file=sys.stderr)
        return 1
    seq = [-(-t // args.round) * args.round for t, _ in samples]
    tiles = [max(t, 1) for _, t in samples]
    print(f"{len(samples)} samples; tokens {min(t for t, _ in samples)}-"
          f"{max(t for t, _ in samples)}, tiles {min(tiles)}-{max(tiles)}")
    proposal = []
    for name, values in (("seq", seq), ("tiles", tiles)):
        rows = propose(values, args.max_padding, args.max_buckets)
        for k, bounds, fraction in rows:
            print(f"{name}: {k} bucket(s) {','.join(map(str, bounds))}: "
                  f"padding {100 * fraction:.1f}%")
        proposal.append(f"{name}={','.join(map(str, rows[-1][1]))}")
    print(f"proposal: {' '.join(proposal)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
