#!/usr/bin/env python3
"""check_webdataset.py - reads crawlset webdataset shards the way their users do.

Standard library only. Opens every NNNNN.tar under DIR with tarfile and groups
the members into samples exactly as the `webdataset` library does
(webdataset.tariterators: tar_file_iterator + group_by_keys with base_plus_ext:
the key is the path up to the first dot of the basename, the extension is
everything after that dot; a new sample starts whenever the key changes; a
repeated extension within one sample is an error; non-regular members and
top-level __meta__ files are skipped). Hugging Face `datasets` uses the same
base_plus_ext and grouping in its webdataset builder, and further requires
every example to have the same set of fields (it infers the features from the
first examples and raises "the files in the archive don't share the same
prefix or the same types" otherwise), which is checked too.

Then checks, per sample: an image, .json and .txt; the JSON's key equals the
sample key; status is "success"; the .txt equals the JSON caption ("" for
null); with --sha-of-stored-image, the sha256 in the JSON matches the stored
image bytes (crawlset, like img2dataset, records the sha256 of the ORIGINAL
downloaded bytes, which only equals the stored image when it was not
re-encoded). Per shard:
the NNNNN.jsonl beside it has one row per input row in key order, its
successful rows are exactly the tar's samples, and NNNNN_stats.json counts
agree. Keys are unique over the dataset.

Usage: check_webdataset.py DIR [--rows N] [--samples N] [--shards N]
                           [--sha-of-stored-image]
Prints one JSON line {"shards":..,"samples":..,"rows":..} and exits 0, or
prints what is wrong and exits 1.
"""
import glob
import hashlib
import json
import os
import re
import sys
import tarfile

IMAGE_EXTS = {"jpg", "jpeg", "png", "webp"}


def base_plus_ext(path):
    """webdataset.tariterators.base_plus_ext (and datasets' copy of it)."""
    match = re.match(r"^((?:.*/|)[^.]+)[.]([^/]*)$", path)
    if not match:
        return None, None
    return match.group(1), match.group(2)


def tar_file_iterator(path):
    """webdataset's tar_file_iterator, minus streaming: regular files only,
    top-level __key__-style meta files skipped."""
    with tarfile.open(path, mode="r|*") as stream:
        for info in stream:
            fname = info.name
            if not info.isreg() or fname is None:
                continue
            if "/" not in fname and fname.startswith("__") and fname.endswith("__"):
                continue
            yield fname, stream.extractfile(info).read()


def group_by_keys(members, url):
    """webdataset.tariterators.group_by_keys with lcase=True, suffixes=None."""
    current = None
    for fname, value in members:
        prefix, suffix = base_plus_ext(fname)
        if prefix is None:
            continue
        suffix = suffix.lower()
        if current is None or prefix != current["__key__"]:
            if current:
                yield current
            current = dict(__key__=prefix, __url__=url)
        if suffix in current:
            raise ValueError(f"{fname}: duplicate file name in tar file {suffix} {current.keys()}")
        current[suffix] = value
    if current:
        yield current


def fail(msg):
    print("check_webdataset: " + msg)
    sys.exit(1)


def main(argv):
    if len(argv) < 2:
        fail("usage: check_webdataset.py DIR [--rows N] [--samples N] [--shards N]")
    root = argv[1]
    want = {}
    sha_stored = False
    i = 2
    while i < len(argv):
        if argv[i] == "--sha-of-stored-image":
            sha_stored = True
            i += 1
        elif argv[i] in ("--rows", "--samples", "--shards") and i + 1 < len(argv):
            want[argv[i][2:]] = int(argv[i + 1])
            i += 2
        else:
            fail("unknown argument " + argv[i])
    tars = sorted(glob.glob(os.path.join(root, "*.tar")))
    all_keys = set()
    fields = None
    nsamples = nrows = 0
    for tar in tars:
        shard = os.path.basename(tar)[: -len(".tar")]
        samples = list(group_by_keys(tar_file_iterator(tar), tar))
        keys = [s["__key__"] for s in samples]
        if keys != sorted(keys):
            fail(f"{tar}: samples not in key order")
        for s in samples:
            key = s["__key__"]
            if key in all_keys:
                fail(f"{tar}: key {key} seen before")
            all_keys.add(key)
            if not key.startswith(shard):
                fail(f"{tar}: key {key} does not start with the shard name {shard}")
            f = sorted(k for k in s if not k.startswith("__"))
            if fields is None:
                fields = f
            elif f != fields:  # what Hugging Face datasets refuses
                fail(f"{tar}: sample {key} has fields {f}, the first one had {fields}")
            imgs = [k for k in f if k in IMAGE_EXTS]
            if len(imgs) != 1 or "json" not in s or "txt" not in s:
                fail(f"{tar}: sample {key} has {f}, want one image, json and txt")
            meta = json.loads(s["json"].decode("utf-8"))
            if meta.get("key") != key:
                fail(f"{tar}: sample {key} has json key {meta.get('key')}")
            if meta.get("status") != "success":
                fail(f"{tar}: sample {key} has status {meta.get('status')}")
            txt = s["txt"].decode("utf-8")
            if txt != (meta.get("caption") or ""):
                fail(f"{tar}: sample {key}: txt {txt!r} != caption {meta.get('caption')!r}")
            digest = meta.get("sha256")
            if sha_stored and digest and hashlib.sha256(s[imgs[0]]).hexdigest() != digest:
                fail(f"{tar}: sample {key}: sha256 does not match the image")
        nsamples += len(samples)

        rows = []
        with open(os.path.join(root, shard + ".jsonl"), encoding="utf-8") as f:
            for line in f:
                rows.append(json.loads(line))
        rkeys = [r["key"] for r in rows]
        if rkeys != sorted(rkeys) or len(set(rkeys)) != len(rkeys):
            fail(f"{shard}.jsonl: keys not unique and in order")
        ok = [r["key"] for r in rows if r["status"] == "success"]
        if ok != keys:
            fail(f"{shard}.jsonl: successful rows {ok} != tar samples {keys}")
        for r in rows:
            if r["status"] not in ("success", "failed_to_download", "failed_to_resize"):
                fail(f"{shard}.jsonl: status {r['status']}")
            if r["status"] != "success" and not r.get("error_message"):
                fail(f"{shard}.jsonl: failed row {r['key']} without error_message")
        with open(os.path.join(root, shard + "_stats.json"), encoding="utf-8") as f:
            stats = json.load(f)
        if stats["count"] != len(rows) or stats["successes"] != len(keys):
            fail(f"{shard}_stats.json: count {stats['count']} successes {stats['successes']}, "
                 f"jsonl has {len(rows)} rows, tar {len(keys)} samples")
        if stats["successes"] + stats["failed_to_download"] + stats["failed_to_resize"] != stats["count"]:
            fail(f"{shard}_stats.json: counts do not add up")
        nrows += len(rows)
    got = {"shards": len(tars), "samples": nsamples, "rows": nrows}
    for k, v in want.items():
        if got[k] != v:
            fail(f"{k}: got {got[k]}, want {v}")
    print(json.dumps(got))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
