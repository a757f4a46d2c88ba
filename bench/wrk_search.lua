-- wrk_search.lua — bench_http's search phase for Debian's wrk (issue 15), so the
-- throughput figure does not depend on our own client. Each request is
-- POST /api/memories/search for user "bench" with "how are A and B related",
-- A and B drawn from bench_http's twenty words; WRK_MODE=create sends
-- bench_http's creates instead (to fill a server first). WRK_SEARCH_MODE adds
-- the search body's "mode". Usage (docs/perf.md, "Throughput (issue 15)"):
--
--   WRK_MODE=create wrk -t2 -c4 -d5s -s bench/wrk_search.lua http://127.0.0.1:PORT
--   wrk -t2 -c4 -d10s --latency -s bench/wrk_search.lua http://127.0.0.1:PORT

local words = {"orders", "customers", "revenue", "invoice", "region", "product", "price",
               "discount", "shipment", "warehouse", "refund", "payment", "account", "supplier",
               "category", "employee", "quarter", "margin", "tax", "currency"}
local create = os.getenv("WRK_MODE") == "create"
local mode = os.getenv("WRK_SEARCH_MODE")
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("seed", counter)
end

function init(args)
    math.randomseed(seed or 1)
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["X-User-Id"] = "bench"
end

local function word()
    return words[math.random(#words)]
end

function request()
    local a, b, c = word(), word(), word()
    local body
    if create then
        wrk.path = "/api/memories"
        body = string.format('{"content":"The %s table links %s to %s by %s_id","memory_type":' ..
                             '"entity","conversation_id":"6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}',
                             a, b, c, a)
    else
        wrk.path = "/api/memories/search"
        local m = mode and string.format(',"mode":"%s"', mode) or ""
        body = string.format('{"query":"how are %s and %s related","limit":10%s}', a, b, m)
    end
    return wrk.format(nil, nil, nil, body)
end

-- wrk counts answers past 399 in summary.errors.status (no response() hook: it would cost a Lua
-- call per answer).
function done(summary, latency, requests)
    io.write(string.format("non-2xx answers: %d (of %d)\n", summary.errors.status,
                           summary.requests))
end
