"""Loads libcrawlset.so and declares the C client's functions (ctypes).

Where the library is looked for, in order: the CRAWLSET_LIB environment
variable (the .so file, or a directory holding libcrawlset.so), the package's
own directory, the build/ directory of the source tree the package sits in
(bindings/python/crawlset -> ../../../build), then the system's library
path."""

import ctypes
import ctypes.util
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_NAME = "libcrawlset.so"


def _candidates():
    env = os.environ.get("CRAWLSET_LIB")
    if env:
        yield os.path.join(env, _NAME) if os.path.isdir(env) else env
        return  # an explicit choice is not second-guessed
    yield os.path.join(_HERE, _NAME)
    yield os.path.normpath(os.path.join(_HERE, "..", "..", "..", "build", _NAME))
    found = ctypes.util.find_library("crawlset")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("crawlset: cannot load %s; tried: %s. Build the project "
                      "(cmake --build build) or set CRAWLSET_LIB to the library's path."
                      % (_NAME, "; ".join(tried) or "nothing"))


lib = _load()

c_p = ctypes.c_void_p


class Opts(ctypes.Structure):
    """cs_client_opts (crawlset/client.h), field for field."""
    _fields_ = [
        ("retries", ctypes.c_uint),
        ("backoff_base", ctypes.c_double),
        ("backoff_max", ctypes.c_double),
        ("timeout_ms", ctypes.c_long),
        ("download_timeout_ms", ctypes.c_long),
        ("max_body", ctypes.c_size_t),
        ("max_download", ctypes.c_uint64),
        ("user_agent", ctypes.c_char_p),
        ("cancel", ctypes.c_void_p),
    ]


class Job(ctypes.Structure):
    """cs_client_job (crawlset/client.h)."""
    _fields_ = [
        ("url", ctypes.c_char_p),
        ("start_id", ctypes.c_uint64),
        ("end_id", ctypes.c_uint64),
        ("shard_piece", ctypes.c_int),
        ("number", ctypes.c_int64),
    ]


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_s = ctypes.c_char_p
_i = ctypes.c_int
P = ctypes.POINTER

strerror = _fn("cs_strerror", _s, _i)
status_name = _fn("cs_status_name", _s, _i)
cs_free = _fn("cs_free", None, c_p)
opts_init = _fn("cs_client_opts_init", None, P(Opts))
type_name = _fn("cs_client_type_name", _s, _i)
client_new = _fn("cs_client_new", _i, P(c_p), _s, _s, _i, P(Opts))
client_free = _fn("cs_client_free", None, c_p)
errmsg = _fn("cs_client_errmsg", _s, c_p)
http_status = _fn("cs_client_http_status", _i, c_p)
get_type = _fn("cs_client_get_type", _i, c_p)
base_url = _fn("cs_client_base_url", _s, c_p)
nickname = _fn("cs_client_nickname", _s, c_p)
token = _fn("cs_client_token", _s, c_p)
display_name = _fn("cs_client_display_name", _s, c_p)
upload_address = _fn("cs_client_upload_address", _s, c_p)
job_get = _fn("cs_client_job_get", P(Job), c_p)
job_count = _fn("cs_client_job_count", _i, c_p, P(ctypes.c_uint64))
update_upload_address = _fn("cs_client_update_upload_address", _i, c_p)
new_job = _fn("cs_client_new_job", _i, c_p)
download_shard = _fn("cs_client_download_shard", _i, c_p, _s, P(c_p))
complete_job = _fn("cs_client_complete_job", _i, c_p, ctypes.c_uint64, _s)
log = _fn("cs_client_log", _i, c_p, _s)
is_alive = _fn("cs_client_is_alive", _i, c_p, P(ctypes.c_bool))
invalid_url = _fn("cs_client_invalid_url", _i, c_p)
flag_invalid_data = _fn("cs_client_flag_invalid_data", _i, c_p)
bye = _fn("cs_client_bye", _i, c_p)
dump = _fn("cs_client_dump", _i, c_p, P(c_p), P(ctypes.c_size_t))
load = _fn("cs_client_load", _i, P(c_p), _s, ctypes.c_size_t, P(Opts))
