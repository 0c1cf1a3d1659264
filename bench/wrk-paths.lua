-- wrk script for bench/compare.py: cycles through a file of request paths (one per line), each
-- thread starting at its own random place, with an optional Bearer token, and prints the
-- summary as one JSON line (prefixed WRKJSON) so the driver does not parse wrk's text.
-- Usage: wrk ... -s bench/wrk-paths.lua URL -- PATHS_FILE [TOKEN]

local paths = {}
local position = 0

function init(args)
    for line in io.lines(args[1]) do
        if #line > 0 then
            paths[#paths + 1] = line
        end
    end
    if #paths == 0 then
        error("no paths in " .. args[1])
    end
    math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
    position = math.random(#paths)
    if args[2] and #args[2] > 0 then
        wrk.headers["Authorization"] = "Bearer " .. args[2]
    end
end

function request()
    position = position % #paths + 1
    return wrk.format("GET", paths[position])
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
        '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
        summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
        e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
        latency.max, latency.mean))
end
