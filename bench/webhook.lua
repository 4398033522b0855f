-- wrk script: Jira "issue updated" deliveries that change the assignee,
-- alternating assign / unassign per issue key, with a unique, increasing
-- changelog.id and an increasing timestamp per key (so that no delivery is a
-- duplicate or stale). The bodies come from the shared Jira fixtures; the
-- harness (harness/load.py) writes a params file that sets the global `P`:
--   P.path       request path (holds the webhook token)
--   P.keys       issue keys;  P.emails[i] = the assignee email for P.keys[i]
--   P.threads    wrk's -t
--   P.base_ts    first timestamp (ms);  P.base_cl  first changelog id
--   P.phase[i]   0 or 1: deliveries key i received in earlier runs, mod 2
--                (so each key goes on alternating across runs)
--   P.assign / P.unassign = { parts = {...}, fields = {...} }: body template,
--                parts[1] .. value(fields[1]) .. parts[2] .. ... .. parts[#parts]
-- Usage: wrk -t T -c C -d D -s webhook.lua URL -- PARAMS_FILE
-- Prints one line "BENCHJSON {...}" with the counts and latency percentiles.

local thread_count = 0
local threads = {}

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

-- Requests made by this thread (a global, so done() can read it).
req_n = 0
local mine = {}

function init(args)
  dofile(args[1])
  for i = tid + 1, #P.keys, P.threads do
    mine[#mine + 1] = i
  end
  if #mine == 0 then
    error("fewer issue keys than wrk threads")
  end
end

local function render(t, vals)
  local out = {}
  for i = 1, #t.fields do
    out[#out + 1] = t.parts[i]
    out[#out + 1] = vals[t.fields[i]]
  end
  out[#out + 1] = t.parts[#t.parts]
  return table.concat(out)
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  local n = req_n
  local idx = mine[(n % #mine) + 1]
  local round = math.floor(n / #mine) + P.phase[idx]
  req_n = n + 1
  n = n + 1
  local vals = {
    ts = string.format("%.0f", P.base_ts + n),
    clid = string.format("%.0f", P.base_cl + tid * 1000000000 + n),
    key = P.keys[idx],
    email = P.emails[idx],
  }
  local t
  if round % 2 == 0 then t = P.assign else t = P.unassign end
  return wrk.format("POST", P.path, headers, render(t, vals))
end

function done(summary, latency, requests)
  local e = summary.errors
  local made = {}
  for i, t in ipairs(threads) do
    made[i] = string.format("%d", t:get("req_n"))
  end
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_p999_us":%d,"lat_max_us":%d,' ..
    '"made":[%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, table.concat(made, ",")))
end
