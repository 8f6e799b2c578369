-- bench/tracker_cycle.lua - wrk script for bench/tracker.sh: each wrk thread
-- drives one connection as one HYBRID worker: GET /api/new once, then
-- POST newJob, POST markAsDone, newJob, ... (a cycle = 2 requests).
-- Run with as many threads as connections (-t N -c N) so each thread's
-- worker token belongs to exactly one connection.
local counter = 0
local threads = {}

function setup(thread)
    counter = counter + 1
    thread:set("id", counter)
    table.insert(threads, thread)
end

function init(args)
    token = nil
    step = 0       -- 0: new, 1: newJob, 2: markAsDone
    cycles = 0
    errors = 0
    nojob = 0
end

function request()
    if token == nil then
        return wrk.format("GET", "/api/new?nickname=bench" .. id .. "&type=HYBRID")
    end
    local body
    if step == 1 then
        body = '{"token":"' .. token .. '","type":"HYBRID"}'
        return wrk.format("POST", "/api/newJob", {["Content-Type"] = "application/json"}, body)
    end
    body = '{"token":"' .. token .. '","type":"HYBRID","count":1}'
    return wrk.format("POST", "/api/markAsDone", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
    if token == nil then
        if status == 200 then
            token = string.match(body, '"token":"(%x+)"')
            step = 1
        else
            errors = errors + 1
        end
        return
    end
    if step == 1 then
        if status == 200 then
            step = 2
        elseif status == 403 then
            nojob = nojob + 1
        else
            errors = errors + 1
        end
    else
        if status == 200 then
            cycles = cycles + 1
        else
            errors = errors + 1
        end
        step = 1
    end
end

function done(summary, latency, requests)
    local c, e, n = 0, 0, 0
    for _, t in ipairs(threads) do
        c = c + t:get("cycles")
        e = e + t:get("errors")
        n = n + t:get("nojob")
    end
    io.write(string.format("CYCLES %d ERRORS %d NOJOB %d SECONDS %.3f P99_US %d P50_US %d\n",
        c, e, n, summary.duration / 1e6, latency:percentile(99), latency:percentile(50)))
end
