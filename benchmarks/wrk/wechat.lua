-- wrk script: signed WeChat text pushes, each with a unique MsgId so ingest's dedupe never short-circuits.
-- Arguments (after --): path-with-signed-query, run prefix (digits). Prints one JSON line when done.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  prefix = args[2]
end

local texts = {"小区门口路灯坏了好几天，晚上很危险", "公司拖欠工资三个月了，老板一直不给", "楼上装修噪音太大，周末一大早就开始"}

function request()
  counter = counter + 1
  local msg_id = prefix .. string.format("%02d%010d", tid, counter)
  local body = "<xml><ToUserName><![CDATA[gh_47bd9550a0a1]]></ToUserName><FromUserName><![CDATA[oBench"
    .. string.format("%05d", counter % 5000) .. "]]></FromUserName><CreateTime>" .. os.time()
    .. "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" .. texts[counter % 3 + 1]
    .. "]]></Content><MsgId>" .. msg_id .. "</MsgId></xml>"
  return wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "non2xx": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
