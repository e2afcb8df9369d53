#!/usr/bin/env python3
"""Calls a running Polarity server through the client libraries people install for the protocols it speaks:
huggingface_hub's InferenceClient (TEI) and tritonclient.http (KServe Open Inference Protocol V2).

Every call must succeed and give the labels and scores `POST /predict` gives for the same texts. Prints one
line per call (`ok` or `FAIL` and why) and exits 1 if any failed. Run by server/tests/clients.rs, which
starts the server; by hand:

    .venv-clients/bin/python scripts/clients_check.py --url http://127.0.0.1:8080 [--api-key KEY]
        [--model polarity] [--previous VERSION]
"""

import argparse
import json
import math
import sys
import traceback
import urllib.error
import urllib.request

import numpy as np
import tritonclient.http as triton
from huggingface_hub import InferenceClient
from tritonclient.utils import InferenceServerException

TEXTS = ["a great film", "dull and bad", "witty and great fun", "an awful dull mess"]
TOL = 1e-9

results = []


def check(name):
    """Runs the decorated call now and records its outcome as one row."""

    def run(fn):
        try:
            detail = fn()
            results.append((True, name, detail or ""))
        except Exception as e:  # noqa: BLE001 - every failure is a row of the table
            tb = traceback.extract_tb(e.__traceback__)[-1]
            results.append((False, name, f"{type(e).__name__}: {' '.join(str(e).split())[:300]} (line {tb.lineno})"))
        return fn

    return run


def same(a, b, what):
    if not math.isclose(a, b, rel_tol=TOL, abs_tol=TOL):
        raise AssertionError(f"{what}: {a!r} != {b!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--api-key")
    ap.add_argument("--model", default="polarity")
    ap.add_argument("--previous", help="a version the server keeps warm beside production (shadow)")
    a = ap.parse_args()
    base = a.url.rstrip("/")
    auth = {"Authorization": f"Bearer {a.api_key}"} if a.api_key else {}
    mode = "with --api-key" if a.api_key else "without --api-key"

    def post(path, body, headers=auth):
        req = urllib.request.Request(
            base + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", **headers},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r), r.headers

    # the reference: Polarity's own route
    preds, h = post("/predict", {"texts": TEXTS})
    preds = preds["predictions"]
    version = h["x-model-version"]
    ref = {t: (p["label"], p["probabilities"]) for t, p in zip(TEXTS, preds)}
    labels = list(preds[0]["probabilities"])

    def agrees(text, got, log=False):
        """`got`: [(label, score)] sorted by score; must be /predict's labels and probabilities."""
        label, probs = ref[text]
        if got[0][0] != label:
            raise AssertionError(f"{text!r}: top label {got[0][0]!r}, /predict says {label!r}")
        for lab, score in got:
            want = math.log(probs[lab]) if log else probs[lab]
            same(score, want, f"{text!r} {lab}")
        if [s for _, s in got] != sorted((s for _, s in got), reverse=True):
            raise AssertionError(f"{text!r}: scores not sorted: {got}")

    # ---- huggingface_hub (TEI) ----
    for suffix in ["", "/predict"]:
        hf = InferenceClient(base_url=base + suffix, api_key=a.api_key)

        @check(f"huggingface_hub text_classification, base_url {suffix or '/'} ({mode})")
        def _():
            for t in TEXTS:
                out = hf.text_classification(t)
                if len(out) != len(labels):
                    raise AssertionError(f"{len(out)} labels, the model has {len(labels)}")
                agrees(t, [(o.label, o.score) for o in out])
            return f"{len(TEXTS)} texts, {len(labels)} labels each"

    hf = InferenceClient(base_url=base, api_key=a.api_key)

    @check(f"huggingface_hub text_classification top_k=1 ({mode})")
    def _():
        for t in TEXTS:
            out = hf.text_classification(t, top_k=1)
            if len(out) != 1:
                raise AssertionError(f"top_k=1 gave {len(out)} labels")
            agrees(t, [(o.label, o.score) for o in out])
        return "one label each"

    @check(f"huggingface_hub text_classification function_to_apply=none ({mode})")
    def _():
        for t in TEXTS:
            out = hf.text_classification(t, function_to_apply="none")
            agrees(t, [(o.label, o.score) for o in out], log=True)
        return "log-probabilities"

    @check(f"TEI raw_scores, truncate, truncation_direction on POST / ({mode})")
    def _():
        body = {"inputs": TEXTS[0], "raw_scores": True, "truncate": True, "truncation_direction": "Right"}
        out, _h = post("/", body)
        agrees(TEXTS[0], [(o["label"], o["score"]) for o in out], log=True)
        return "raw scores are log-probabilities"

    @check(f"TEI batch and pair on POST / ({mode})")
    def _():
        out, _h = post("/", {"inputs": [[t] for t in TEXTS]})
        for t, o in zip(TEXTS, out):
            agrees(t, [(x["label"], x["score"]) for x in o])
        pair, _h = post("/", {"inputs": ["a great", "film"]})
        agrees("a great film", [(x["label"], x["score"]) for x in pair])
        return f"batch of {len(TEXTS)}; a pair scores as its texts joined"

    # ---- tritonclient.http (KServe V2) ----
    class Bearer(triton.InferenceServerClientPlugin):
        def __call__(self, request):
            request.headers.update(auth)

    host = base.split("://", 1)[1]
    tc = triton.InferenceServerClient(url=host)
    if a.api_key:
        tc.register_plugin(Bearer())

    @check(f"tritonclient get_server_metadata ({mode})")
    def _():
        m = tc.get_server_metadata()
        if "binary_tensor_data" not in m.get("extensions", []):
            raise AssertionError(f"extensions: {m.get('extensions')}")
        return f"{m['name']} {m['version']}"

    @check(f"tritonclient is_server_live/ready, is_model_ready ({mode})")
    def _():
        if not (tc.is_server_live() and tc.is_server_ready() and tc.is_model_ready(a.model)):
            raise AssertionError("not live/ready")
        if tc.is_model_ready("no-such-model"):
            raise AssertionError("an unknown model is ready")

    @check(f"tritonclient get_model_metadata, with and without model_version ({mode})")
    def _():
        m = tc.get_model_metadata(a.model)
        mv = tc.get_model_metadata(a.model, model_version=version)
        if m["versions"] != [version] or mv != m or m["parameters"]["labels"] != labels:
            raise AssertionError(f"{m} / {mv}")
        try:
            tc.get_model_metadata(a.model, model_version="no-such-version")
            raise AssertionError("an unknown version answered")
        except InferenceServerException as e:
            if e.status() != "404" and "404" not in str(e.status()):
                raise AssertionError(f"unknown version: {e.status()} {e}") from e
        return f"version {version}; an unknown version is 404"

    def infer(binary, outputs=None, model_version="", texts=TEXTS):
        inp = triton.InferInput("text", [len(texts)], "BYTES")
        inp.set_data_from_numpy(np.array(texts, dtype=np.object_), binary_data=binary)
        req_out = None
        if outputs is not None:
            req_out = [triton.InferRequestedOutput(o, binary_data=binary) for o in outputs]
        return tc.infer(a.model, [inp], outputs=req_out, model_version=model_version)

    def text(x):
        return x.decode() if isinstance(x, bytes) else str(x)

    def v2_agrees(r, texts=TEXTS):
        got_labels = [text(x) for x in r.as_numpy("label").reshape(-1)]
        scores = r.as_numpy("score").reshape(-1)
        probs = r.as_numpy("probabilities").reshape(len(texts), len(labels))
        for i, t in enumerate(texts):
            label, p = ref[t]
            if got_labels[i] != label:
                raise AssertionError(f"{t!r}: {got_labels[i]!r}, /predict says {label!r}")
            same(float(scores[i]), p[label], f"{t!r} score")
            for j, lab in enumerate(labels):
                same(float(probs[i, j]), p[lab], f"{t!r} {lab}")

    @check(f"tritonclient infer, binary tensors (the default), batch of {len(TEXTS)} ({mode})")
    def _():
        r = infer(True)
        v2_agrees(r)
        return "binary in and out"

    @check(f"tritonclient infer, JSON tensors (binary_data=False) ({mode})")
    def _():
        r = infer(False, outputs=["label", "score", "probabilities"])
        v2_agrees(r)
        one = infer(False, texts=TEXTS[:1], outputs=["label", "score", "probabilities"])
        v2_agrees(one, TEXTS[:1])
        return "JSON in and out; a single text"

    @check(f"tritonclient infer outputs=[label] ({mode})")
    def _():
        for binary in (True, False):
            r = infer(binary, outputs=["label"])
            names = [o["name"] for o in r.get_response()["outputs"]]
            if names != ["label"]:
                raise AssertionError(f"outputs {names}")
            got = [text(x) for x in r.as_numpy("label").reshape(-1)]
            if got != [ref[t][0] for t in TEXTS]:
                raise AssertionError(f"labels {got}")
        return "only the label comes back"

    @check(f"tritonclient infer model_version=production ({mode})")
    def _():
        v2_agrees(infer(True, model_version=version))
        try:
            infer(True, model_version="no-such-version")
            raise AssertionError("an unknown version answered")
        except InferenceServerException as e:
            if "404" not in str(e.status()):
                raise AssertionError(f"unknown version: {e.status()} {e}") from e
        return f"{version}; an unknown version is 404"

    if a.previous:

        @check(f"tritonclient infer model_version=<shadow version> ({mode})")
        def _():
            r = infer(True, model_version=a.previous)
            got = [text(x) for x in r.as_numpy("label").reshape(-1)]
            want = [ref[t][0] for t in TEXTS]
            if got == want:
                raise AssertionError("the shadow version answered as production does")
            if r.get_response().get("model_version") != a.previous:
                raise AssertionError(f"model_version {r.get_response().get('model_version')}")
            return f"{a.previous} answers (its own labels)"

    if a.api_key:
        anon = triton.InferenceServerClient(url=host)

        @check("tritonclient without the key: health open, infer refused (with --api-key)")
        def _():
            if not (anon.is_server_live() and anon.is_server_ready()):
                raise AssertionError("V2 health needs the key")
            inp = triton.InferInput("text", [1], "BYTES")
            inp.set_data_from_numpy(np.array(TEXTS[:1], dtype=np.object_))
            try:
                anon.infer(a.model, [inp])
                raise AssertionError("infer answered without the key")
            except InferenceServerException as e:
                if "401" not in str(e.status()):
                    raise AssertionError(f"without the key: {e.status()} {e}") from e
            try:
                InferenceClient(base_url=base).text_classification(TEXTS[0])
                raise AssertionError("TEI answered without the key")
            except Exception as e:  # noqa: BLE001 - huggingface_hub raises its HTTP error type
                if "401" not in str(e):
                    raise
            return "live/ready open; infer and text_classification 401"

    width = max(len(n) for _, n, _ in results)
    for ok, name, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name:<{width}}  {detail}")
    failed = sum(not ok for ok, _, _ in results)
    print(f"{len(results) - failed}/{len(results)} client calls passed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except urllib.error.URLError as e:
        print(f"FAIL could not reach the server: {e}")
        sys.exit(1)
