"""crawlset: the tracker client with the Crawling@Home method names.

    import crawlset
    client = crawlset.init("http://tracker:8080", nickname="me", type="HYBRID")
    while client.jobCount() > 0 and client.isAlive():
        client.newJob()
        path = client.downloadShard()
        ...                                   # make pairs from the shard
        client.log("Completed 10 / 100")
        client.completeJob(pairs_found)
    client.bye()

A ctypes package (standard library only) over libcrawlset.so; see _lib.py for
where the library is looked for (CRAWLSET_LIB first)."""

from .core import CPUClient, GPUClient, HybridClient, dump, init, load
from .errors import (ClientError, DumpError, InvalidRequestError, InvalidURLError,
                     ServerError, WorkerTimedOutError, ZeroJobError)

__all__ = ["init", "dump", "load", "HybridClient", "CPUClient", "GPUClient", "ClientError",
           "ServerError", "ZeroJobError", "WorkerTimedOutError", "InvalidRequestError",
           "InvalidURLError", "DumpError"]
__version__ = "0.1.0"
