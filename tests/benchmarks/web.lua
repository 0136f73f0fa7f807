-- wrk script: each request the next line of the file in args[1] ("PATH<TAB>BODY": a POST),
-- split between the threads so no two send the same line; prints p50/p95/p99 at the end.
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

local lines = {}
local next_line = 0

function init(args)
  if args[1] == nil then return end
  local index = 0
  for line in io.lines(args[1]) do
    if index % tonumber(args[2]) == id then table.insert(lines, line) end
    index = index + 1
  end
end

function request()
  if #lines == 0 then return wrk.format("GET") end
  next_line = next_line % #lines + 1
  local path, body = lines[next_line]:match("([^\t]+)\t(.*)")
  return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f non2xx=%d errors=%d p50=%d p95=%d p99=%d\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
