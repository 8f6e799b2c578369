"""Exceptions of the crawlset tracker client, with the Crawling@Home names.

Every error raised by a client call derives from ClientError, which carries
the library's status name (``status``) and the HTTP status the tracker
answered (``http_status``, 0 when there was no answer)."""


class ClientError(Exception):
    """Base class: a tracker call failed."""

    def __init__(self, message, status="", http_status=0):
        super().__init__(message)
        self.status = status
        self.http_status = http_status


class ServerError(ClientError):
    """The tracker failed (5xx after the retries), could not be reached, or
    answered something the protocol does not allow."""


class ZeroJobError(ClientError):
    """403: no job is open for this worker type."""


class WorkerTimedOutError(ClientError):
    """404: the tracker does not know this worker's token (timed out, or
    removed by bye)."""


class InvalidRequestError(ClientError, ValueError):
    """400: the tracker refused the request as malformed; also bad
    arguments given to a client method."""


class InvalidURLError(ClientError):
    """The job's input could not be fetched (downloadShard)."""


class DumpError(ClientError):
    """A dumped client could not be loaded."""
