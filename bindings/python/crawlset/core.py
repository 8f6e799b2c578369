"""The tracker client classes: HybridClient, CPUClient and GPUClient, with the
method names of the original Crawling@Home client, over the C client
(crawlset/client.h) through ctypes."""

import ctypes
import json
import os

from . import _lib
from .errors import (ClientError, DumpError, InvalidRequestError, InvalidURLError,
                     ServerError, WorkerTimedOutError, ZeroJobError)

_TYPES = {"HYBRID": 0, "CPU": 1, "GPU": 2}


def _text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def _bytes(s, what):
    if isinstance(s, bytes):
        return s
    if not isinstance(s, str):
        raise InvalidRequestError("%s must be a string, not %s" % (what, type(s).__name__))
    return s.encode("utf-8")


def _opts(retries=None, backoff=None, backoff_max=None, timeout=None):
    o = _lib.Opts()
    _lib.opts_init(ctypes.byref(o))
    if retries is not None:
        o.retries = int(retries)
    if backoff is not None:
        o.backoff_base = float(backoff)
    if backoff_max is not None:
        o.backoff_max = float(backoff_max)
    if timeout is not None:
        o.timeout_ms = int(float(timeout) * 1000)
    return o


def _raise(handle, st, call):
    """Turns a failed call's status into the matching exception."""
    name = _text(_lib.status_name(st))
    msg = _text(_lib.errmsg(handle)) if handle else _text(_lib.strerror(st))
    http = _lib.http_status(handle) if handle else 0
    text = "[crawlset] %s" % (msg or "%s: %s" % (call, _text(_lib.strerror(st))))
    cls = {
        "ENOJOB": ZeroJobError,
        "EWORKER": WorkerTimedOutError,
        "EBADREQ": InvalidRequestError,
        "EINVAL": InvalidRequestError,
    }.get(name, ServerError)
    if call == "downloadShard" and name in ("ENOTFOUND", "EHTTP", "EUNSUPPORTED", "EFORMAT"):
        cls = InvalidURLError
    raise cls(text, name, http)


class _Client:
    """What the three worker types share. Do not build these directly: use
    crawlset.init() or crawlset.load()."""

    type = None  # "HYBRID", "CPU" or "GPU"

    def __init__(self, url, nickname, _handle=None, **opts):
        self._h = None
        self._opts = _opts(**opts)
        if _handle is None:
            h = ctypes.c_void_p()
            st = _lib.client_new(ctypes.byref(h), _bytes(url, "url"),
                                 _bytes(nickname if nickname is not None else "anonymous",
                                        "nickname"),
                                 _TYPES[self.type], ctypes.byref(self._opts))
            if st:
                try:
                    _raise(h.value, st, "new")
                finally:
                    _lib.client_free(h.value)
            _handle = h.value
        self._h = _handle
        self.shard_path = None

    def __del__(self):
        h, self._h = getattr(self, "_h", None), None
        if h and _lib is not None and _lib.client_free is not None:
            _lib.client_free(h)

    def __repr__(self):
        return "<crawlset.%s %s token=%s...>" % (type(self).__name__, self.display_name,
                                                 self.token[:6])

    def _check(self, st, call):
        if st:
            _raise(self._h, st, call)

    # ---- state, as attributes ----
    @property
    def url(self):
        return _text(_lib.base_url(self._h)) + "/"

    @property
    def nickname(self):
        return _text(_lib.nickname(self._h))

    @property
    def token(self):
        return _text(_lib.token(self._h))

    @property
    def display_name(self):
        return _text(_lib.display_name(self._h))

    @property
    def upload_address(self):
        return _text(_lib.upload_address(self._h))

    def _job(self):
        p = _lib.job_get(self._h)
        return p.contents if p else None

    @property
    def shard(self):
        """The current job's input: a WAT URL or path (HYBRID, CPU), or the
        URL a CPU worker completed with (GPU). None without a job."""
        j = self._job()
        return _text(j.url) if j else None

    @property
    def start_id(self):
        j = self._job()
        return int(j.start_id) if j else None

    @property
    def end_id(self):
        j = self._job()
        return int(j.end_id) if j else None

    @property
    def shard_piece(self):
        """0: the first half of the input, 1: the second."""
        j = self._job()
        return int(j.shard_piece) if j else None

    @property
    def number(self):
        j = self._job()
        return int(j.number) if j and j.number >= 0 else None

    # ---- the calls ----
    def jobCount(self):
        """The number of open jobs for this worker type."""
        n = ctypes.c_uint64()
        self._check(_lib.job_count(self._h, ctypes.byref(n)), "jobCount")
        return int(n.value)

    def updateUploadServer(self):
        """Refreshes upload_address from the tracker."""
        self._check(_lib.update_upload_address(self._h), "getUploadAddress")

    def newJob(self):
        """Takes a job; raises ZeroJobError when none is open."""
        self._check(_lib.new_job(self._h), "newJob")
        self.shard_path = None

    def downloadShard(self, path="."):
        """Makes the job's input available locally (downloaded into the
        directory `path` when it is a URL) and returns where it is."""
        out = ctypes.c_void_p()
        self._check(_lib.download_shard(self._h, _bytes(path, "path"), ctypes.byref(out)),
                    "downloadShard")
        try:
            self.shard_path = _text(ctypes.string_at(out.value))
        finally:
            _lib.cs_free(out.value)
        return self.shard_path

    def log(self, progress):
        """Reports a line of progress (also keeps the job's lease)."""
        self._check(_lib.log(self._h, _bytes(str(progress), "progress")), "updateProgress")

    def isAlive(self):
        """True while the tracker knows this worker."""
        alive = ctypes.c_bool()
        self._check(_lib.is_alive(self._h, ctypes.byref(alive)), "validateWorker")
        return bool(alive.value)

    def flagInvalidData(self):
        """Reports the job's input as bad data and releases the job."""
        self._check(_lib.flag_invalid_data(self._h), "flagInvalidData")

    def bye(self):
        """Hands the job back and removes the worker from the tracker."""
        self._check(_lib.bye(self._h), "bye")

    def dump(self):
        """The client as a dict, for crawlset.load() in another process."""
        return dump(self)

    def _complete(self, count, url):
        self._check(_lib.complete_job(self._h, count, url), "markAsDone")
        self.shard_path = None


class HybridClient(_Client):
    """Downloads and scores: completes with the number of pairs found."""
    type = "HYBRID"

    def completeJob(self, total_scraped):
        self._complete(int(total_scraped), None)


class CPUClient(_Client):
    """Downloads: completes with the URL of its output, which becomes a GPU
    job's input."""
    type = "CPU"

    def completeJob(self, download_url):
        self._complete(0, _bytes(download_url, "download_url"))


class GPUClient(_Client):
    """Scores a CPU worker's output: completes with the number of pairs."""
    type = "GPU"

    def downloadShard(self, path="./images"):
        return super().downloadShard(path)

    def completeJob(self, total_scraped):
        self._complete(int(total_scraped), None)

    def invalidURL(self):
        """The job's input could not be fetched: it goes back to the CPU
        workers."""
        self._check(_lib.invalid_url(self._h), "gpuInvalidDownload")


_CLASSES = {"HYBRID": HybridClient, "CPU": CPUClient, "GPU": GPUClient}


def _type_key(t):
    if isinstance(t, type) and issubclass(t, _Client):
        return t.type
    if isinstance(t, str) and t:
        for k in _CLASSES:
            if k.lower().startswith(t.lower()):
                return k
    raise InvalidRequestError("[crawlset] invalid worker type %r (HYBRID, CPU or GPU)" % (t,))


def init(url="http://127.0.0.1:8080/", nickname=None, type="HYBRID", **opts):
    """Registers a worker with the tracker at url and returns its client:
    HybridClient, CPUClient or GPUClient by type ("HYBRID", "CPU", "GPU",
    any case, or the class). opts: retries, backoff, backoff_max, timeout
    (seconds)."""
    return _CLASSES[_type_key(type)](url, nickname, **opts)


def dump(client):
    """A client's state as a dict (url, nickname, type, token, display_name,
    upload_address, job) that crawlset.load() turns back into a client."""
    out = ctypes.c_void_p()
    st = _lib.dump(client._h, ctypes.byref(out), None)
    if st:
        raise DumpError("[crawlset] dump: %s" % _text(_lib.strerror(st)),
                        _text(_lib.status_name(st)))
    try:
        return json.loads(ctypes.string_at(out.value).decode("utf-8"))
    finally:
        _lib.cs_free(out.value)


def load(dumped=None, **kwargs):
    """Recreates a client from dump()'s dict (or its JSON text), or from the
    original client's keyword form (url, token, shard, start_id, end_id,
    shard_piece, and type)."""
    if dumped is None:
        dumped = dict(kwargs)
    if isinstance(dumped, (str, bytes)):
        dumped = json.loads(dumped)
    d = dict(dumped)
    if "job" not in d and d.get("shard") is not None:
        d["job"] = {"url": d.pop("shard"), "start_id": d.pop("start_id", 0),
                    "end_id": d.pop("end_id", 0), "shard": d.pop("shard_piece", 0)}
    for k in ("shard", "start_id", "end_id", "shard_piece"):
        d.pop(k, None)
    if isinstance(d.get("job"), dict):
        d["job"] = {k: (int(v) if k in ("start_id", "end_id", "shard", "number") and
                        isinstance(v, str) and v.isdigit() else v)
                    for k, v in d["job"].items()}
    d["type"] = _type_key(d.get("type") or "HYBRID")
    opts = {k: d.pop(k) for k in ("retries", "backoff", "backoff_max", "timeout") if k in d}
    body = json.dumps(d).encode("utf-8")
    o = _opts(**opts)
    h = ctypes.c_void_p()
    st = _lib.load(ctypes.byref(h), body, len(body), ctypes.byref(o))
    if st:
        msg = _text(_lib.errmsg(h.value)) if h.value else _text(_lib.strerror(st))
        _lib.client_free(h.value)
        raise DumpError("[crawlset] load: %s" % msg, _text(_lib.status_name(st)))
    c = _CLASSES[d["type"]](None, None, _handle=h.value)
    c._opts = o
    return c
