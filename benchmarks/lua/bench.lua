-- wrk script for `make bench`: counts non-2xx answers, times the run, and can walk a list.
--
--   wrk -t1 -c8 -d10s -s bench.lua http://127.0.0.1:8730/path -- [ITEMS_FILE DONE_FILE]
--
-- Without ITEMS_FILE every request is the URL given (plus any -H headers), for the
-- time given with -d. With ITEMS_FILE each line is one request, sent exactly once:
--   METHOD <TAB> PATH <TAB> TOKEN-or-"-" <TAB> BODY
-- so each booking asks for a fresh slot and each callback names a distinct attempt.
-- When every line has been answered the thread stops and touches DONE_FILE, and
-- run.py ends wrk at once (wrk itself would sleep out the rest of -d).
-- done() prints one line starting with WRKJSON for run.py to parse.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  answered = 0
  first_us = 0
  last_us = 0
  status_counts = ""
  items = nil
  sent = 0
  verified = false
  done_file = args[2]
  local seen = {}
  codes = seen
  if args[1] ~= nil and args[1] ~= "" then
    items = {}
    for line in io.lines(args[1]) do
      local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
      if token ~= "-" then
        headers["Authorization"] = "Token " .. token
      end
      table.insert(items, wrk.format(method, path, headers, body))
    end
    total = #items
  end
end

function delay()
  -- A list that has been fully sent leaves its connections idle instead of repeating it.
  if items ~= nil and sent >= total then
    return 3600000
  end
  return 0
end

function request()
  if not verified then
    -- wrk calls request() once on thread 1 to check the script (script_verify_request)
    -- before any connection exists: answer it without using up an item.
    verified = true
    return items ~= nil and items[1] or wrk.request()
  end
  if first_us == 0 then
    first_us = now_us()
  end
  if items ~= nil then
    sent = sent + 1
    return items[sent]
  end
  return wrk.request()
end

function response(status, headers, body)
  answered = answered + 1
  last_us = now_us()
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    codes[status] = (codes[status] or 0) + 1
    local parts = {}
    for code, n in pairs(codes) do
      table.insert(parts, string.format('"%d":%d', code, n))
    end
    status_counts = table.concat(parts, ",")
  end
  if items ~= nil and answered >= total then
    if done_file ~= nil then
      local fh = io.open(done_file, "w")
      if fh then
        fh:write("done\n")
        fh:close()
      end
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad, answered_all, first, last, codes_all = 0, 0, nil, 0, {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    answered_all = answered_all + t:get("answered")
    local f, l = t:get("first_us"), t:get("last_us")
    if f > 0 and (first == nil or f < first) then
      first = f
    end
    if l > last then
      last = l
    end
    local c = t:get("status_counts")
    if c ~= nil and c ~= "" then
      table.insert(codes_all, c)
    end
  end
  local e = summary.errors
  io.write(
    string.format(
      'WRKJSON {"requests":%d,"answered":%d,"duration_us":%d,"active_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"non2xx":%d,"codes":{%s},"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
      summary.requests,
      answered_all,
      summary.duration,
      (first ~= nil and last > first) and (last - first) or 0,
      latency:percentile(50),
      latency:percentile(90),
      latency:percentile(99),
      latency.max,
      latency.mean,
      bad,
      table.concat(codes_all, ","),
      e.connect,
      e.read,
      e.write,
      e.timeout
    )
  )
end
