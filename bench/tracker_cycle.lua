-- bench/tracker_cycle.lua - wrk script for bench/tracker.sh: each wrk thread
-- drives one connection as one HYBRID worker: POST newJob, POST markAsDone,
-- newJob, ... (a cycle = 2 requests). The workers are registered before wrk
-- starts (GET /api/new, one per thread) and their tokens come as the
-- script's arguments (wrk ... -- TOKEN1 TOKEN2 ...), so the script builds its
-- two requests once and has no response() callback: wrk then parses no
-- headers or bodies into Lua, and the load generator costs what it costs
-- against nginx. A non-2xx answer (403 no job, 4xx/5xx) is counted by wrk
-- as a status error.
-- Run with as many threads as connections (-t N -c N) so each thread's
-- worker token belongs to exactly one connection.
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
end

function init(args)
    local token = args[id]
    if token == nil then
        error("tracker_cycle.lua: no token for thread " .. id .. " (pass one per thread)")
    end
    local hdr = {["Content-Type"] = "application/json"}
    reqs = {
        wrk.format("POST", "/api/newJob", hdr, '{"token":"' .. token .. '","type":"HYBRID"}'),
        wrk.format("POST", "/api/markAsDone", hdr,
                   '{"token":"' .. token .. '","type":"HYBRID","count":1}'),
    }
    step = 0
end

-- The first two requests of every thread are newJob: wrk builds one request
-- of one thread before it connects and never sends it, and a markAsDone of a
-- worker that holds no job would be answered 400 (a second newJob is
-- harmless: the first job goes back to open).
local started = 0
function request()
    if started < 2 then
        started = started + 1
        step = 1
        return reqs[1]
    end
    step = step + 1
    if step > 2 then step = 1 end
    return reqs[step]
end

function done(summary, latency, requests)
    local e = summary.errors
    local bad = e.status + e.connect + e.read + e.write + e.timeout
    io.write(string.format("CYCLES %d ERRORS %d REQUESTS %d SECONDS %.3f P99_US %d P50_US %d\n",
        math.floor((summary.requests - bad) / 2), bad, summary.requests,
        summary.duration / 1e6, latency:percentile(99), latency:percentile(50)))
end
