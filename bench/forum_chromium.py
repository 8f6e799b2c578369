#!/usr/bin/env python3
"""forum_chromium.py - the browser baseline of bench/forum.sh: one headless
Chromium kept open (as chats-crawler's Playwright keeps it), loading topic
pages one after another through the DevTools protocol over a pipe
(--remote-debugging-pipe; standard library only). Each load is timed from
Page.navigate to Page.loadEventFired, and the page's text is checked.

Usage: forum_chromium.py URL... ; prints "loads N total_s S cpu_s C" on
stdout: C is the CPU time (user + system) of the browser and all its
processes from start to exit, so that a run with no URL gives the browser's
fixed cost to subtract."""
import json, os, resource, subprocess, sys, tempfile, time

urls = sys.argv[1:]
r_cmd, w_cmd = os.pipe()   # we write commands, chromium reads fd 3
r_out, w_out = os.pipe()   # chromium writes fd 4, we read


def child_fds():
    os.dup2(r_cmd, 3)
    os.dup2(w_out, 4)


profile = tempfile.mkdtemp(prefix="cs-chromium-")
proc = subprocess.Popen(
    ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
     "--remote-debugging-pipe", "--user-data-dir=" + profile, "about:blank"],
    preexec_fn=child_fds, pass_fds=(3, 4, r_cmd, w_out),
    stdout=subprocess.DEVNULL, stderr=open(os.path.join(profile, "stderr.log"), "w"))
os.close(r_cmd)
os.close(w_out)
buf = b""
next_id = 0


def send(method, params=None, session=None):
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    os.write(w_cmd, json.dumps(msg).encode() + b"\0")
    return next_id


def recv():
    global buf
    while b"\0" not in buf:
        chunk = os.read(r_out, 1 << 16)
        if not chunk:
            raise SystemExit("chromium closed the pipe")
        buf += chunk
    msg, buf = buf.split(b"\0", 1)
    return json.loads(msg)


def wait(pred):
    while True:
        m = recv()
        if pred(m):
            return m


def run():
    i = send("Target.createTarget", {"url": "about:blank"})
    tid = wait(lambda m: m.get("id") == i)["result"]["targetId"]
    i = send("Target.attachToTarget", {"targetId": tid, "flatten": True})
    sid = wait(lambda m: m.get("id") == i)["result"]["sessionId"]
    i = send("Page.enable", session=sid)
    wait(lambda m: m.get("id") == i)
    t0 = time.time()
    for u in urls:
        send("Page.navigate", {"url": u}, session=sid)
        wait(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == sid)
        i = send("Runtime.evaluate", {"expression": "document.querySelectorAll('div.cooked').length"},
                 session=sid)
        n = wait(lambda m: m.get("id") == i)["result"]["result"].get("value", 0)
        if not n:
            raise SystemExit("no posts rendered at " + u)
    return time.time() - t0


total = 0.0
try:
    total = run()
finally:
    try:
        send("Browser.close")
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    subprocess.run(["rm", "-rf", profile])
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("loads %d total_s %.4f cpu_s %.4f" % (len(urls), total, ru.ru_utime + ru.ru_stime))
