"""py_cycle.py TRACKER_URL WAT - drives a crawlset tracker with the project's
Python package (bindings/python/crawlset): a full HYBRID cycle, a CPU->GPU
cycle with a GPU hand-back (invalidURL), and the exceptions. Run by
tests/client/test_client_tracker.c with CRAWLSET_LIB and PYTHONPATH set; the
tracker holds two inputs (four jobs). Prints one line per part that passed;
any failure is an exception (non-zero exit)."""

import json
import os
import sys

import crawlset

url, wat = sys.argv[1], sys.argv[2]
opts = dict(retries=1, backoff=0.01, backoff_max=0.05)

# ---- HYBRID: two jobs, pairs counted ----
h = crawlset.init(url, nickname="py-hybrid", type="HYBRID", **opts)
assert isinstance(h, crawlset.HybridClient), h
assert h.token and h.display_name.startswith("py-hybrid"), (h.token, h.display_name)
assert h.upload_address == "http://store.example/up", h.upload_address
assert h.jobCount() == 4
assert h.shard is None and h.start_id is None
assert h.isAlive()
for pairs in (6, 6):
    h.newJob()
    assert h.shard == wat, h.shard
    assert h.end_id - h.start_id == 1000000, (h.start_id, h.end_id)
    assert h.shard_piece in (0, 1)
    assert isinstance(h.start_id, int)
    path = h.downloadShard("work")
    assert path == wat and h.shard_path == wat
    h.log("Completed %d / %d" % (pairs, pairs))
    h.completeJob(pairs)
    assert h.shard is None
assert h.jobCount() == 2
print("hybrid cycle ok")

# ---- CPU -> GPU ----
cpu = crawlset.init(url, "py-cpu", "cpu", **opts)
gpu = crawlset.init(url, "py-gpu", crawlset.GPUClient, **opts)
assert isinstance(cpu, crawlset.CPUClient) and isinstance(gpu, crawlset.GPUClient)
assert gpu.jobCount() == 0
try:
    gpu.newJob()
    raise AssertionError("newJob without GPU jobs did not raise")
except crawlset.ZeroJobError as e:
    assert e.http_status == 403, e.http_status


def cpu_job(n):
    """Takes a CPU job and completes it with a local output directory that
    holds a manifest and n pairs' metadata."""
    cpu.newJob()
    assert cpu.downloadShard() == wat
    out = os.path.abspath("cpu-out-%d-%d" % (cpu.start_id, n))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "00000.jsonl"), "w") as f:
        for i in range(n):
            f.write(json.dumps({"key": "%09d" % i, "status": "success"}) + "\n")
    with open(os.path.join(out, "_job.json"), "w") as f:
        json.dump({"crawlset_job": 1, "url": cpu.shard, "pairs": n, "files": ["00000.jsonl"]}, f)
    cpu.log("uploaded %d pairs" % n)
    cpu.completeJob(out)
    return out


out1 = cpu_job(5)
out2 = cpu_job(6)
assert gpu.jobCount() == 2 and cpu.jobCount() == 0
gpu.newJob()
first = gpu.shard
assert first in (out1, out2), first
# the GPU worker cannot use it: back to the CPU pool
gpu.invalidURL()
assert gpu.jobCount() == 1 and cpu.jobCount() == 1
redo = cpu_job(5 if first == out1 else 6)
done = 0
while gpu.jobCount() > 0:
    gpu.newJob()
    d = gpu.downloadShard(os.path.abspath("images"))
    assert os.path.isdir(d) and d == gpu.shard, (d, gpu.shard)
    with open(os.path.join(d, "00000.jsonl")) as f:
        n = sum(1 for line in f if '"success"' in line)
    gpu.log("scored %d" % n)
    # the job survives a move to another process: dump, load, complete there
    state = gpu.dump()
    again = crawlset.load(state)
    assert again.shard == gpu.shard and again.start_id == gpu.start_id
    assert again.token == gpu.token and type(again) is crawlset.GPUClient
    again.completeJob(n)
    done += n
assert done == 11, done
print("cpu->gpu cycle ok")

# ---- errors ----
try:
    gpu.newJob()
    raise AssertionError("no ZeroJobError")
except crawlset.ZeroJobError:
    pass
h.bye()
assert not h.isAlive()
try:
    h.newJob()
    raise AssertionError("no WorkerTimedOutError after bye")
except crawlset.WorkerTimedOutError as e:
    assert e.http_status == 404 and "404" in str(e), str(e)
try:
    crawlset.init(url, "two\nlines", "CPU", **opts)
    raise AssertionError("a nickname with a newline was accepted")
except crawlset.InvalidRequestError as e:
    assert isinstance(e, ValueError) and e.http_status == 400
try:
    crawlset.init(url, "x", "tpu")
    raise AssertionError("type tpu accepted")
except ValueError:
    pass
try:
    crawlset.init("http://127.0.0.1:1/", "x", "CPU", retries=0)
    raise AssertionError("no ServerError without a server")
except crawlset.ServerError as e:
    assert e.status == "ENET", e.status
try:
    crawlset.load({"url": url, "type": "CPU"})
    raise AssertionError("a dump without a token loaded")
except crawlset.DumpError:
    pass
# the original client's keyword form of load
old = crawlset.load(url=url, token=cpu.token, shard="x", start_id="5", end_id="9",
                    shard_piece=1, type="CPU")
assert (old.shard, old.start_id, old.end_id, old.shard_piece) == ("x", 5, 9, 1)
cpu.bye()
gpu.bye()
print("errors ok")
