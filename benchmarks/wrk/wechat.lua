-- wrk script: signed WeChat text pushes, each with a unique MsgId so ingest's dedupe never short-circuits.
-- Arguments (after --): path, run prefix (digits), token. Prints one JSON line when done.
-- Each push is signed as it is sent, with the current time and its own nonce: ingest refuses a timestamp outside
-- its window, and a signed query it already accepted with another body.
local bit = require("bit")
local band, bor, bxor, bnot, rol, lshift, rshift, tobit, tohex =
  bit.band, bit.bor, bit.bxor, bit.bnot, bit.rol, bit.lshift, bit.rshift, bit.tobit, bit.tohex

local threads = {}
local counter = 0

-- SHA-1 (FIPS 180-4) of a short string, hex: wrk's LuaJIT has no hash library.
local function sha1_hex(message)
  local length = #message
  local bits = length * 8
  message = message .. "\128" .. string.rep("\0", (55 - length) % 64) .. "\0\0\0\0"
    .. string.char(band(rshift(bits, 24), 255), band(rshift(bits, 16), 255), band(rshift(bits, 8), 255), band(bits, 255))
  local h0, h1, h2, h3, h4 = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0
  local w = {}
  for block = 1, #message, 64 do
    for i = 0, 15 do
      local b1, b2, b3, b4 = message:byte(block + i * 4, block + i * 4 + 3)
      w[i] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
    end
    for i = 16, 79 do
      w[i] = rol(bxor(w[i - 3], w[i - 8], w[i - 14], w[i - 16]), 1)
    end
    local a, b, c, d, e = h0, h1, h2, h3, h4
    for i = 0, 79 do
      local f, k
      if i < 20 then
        f, k = bor(band(b, c), band(bnot(b), d)), 0x5A827999
      elseif i < 40 then
        f, k = bxor(b, c, d), 0x6ED9EBA1
      elseif i < 60 then
        f, k = bor(band(b, c), band(b, d), band(c, d)), 0x8F1BBCDC
      else
        f, k = bxor(b, c, d), 0xCA62C1D6
      end
      a, b, c, d, e = tobit(rol(a, 5) + f + e + k + w[i]), a, rol(b, 30), c, d
    end
    h0, h1, h2, h3, h4 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d), tobit(h4 + e)
  end
  return tohex(h0) .. tohex(h1) .. tohex(h2) .. tohex(h3) .. tohex(h4)
end

-- WeChat's signature: sha1 of token, timestamp and nonce, sorted and joined (../shared/channels/wechat.md).
local function signed_path(nonce)
  local timestamp = tostring(os.time())
  local parts = {token, timestamp, nonce}
  table.sort(parts)
  return path .. "?signature=" .. sha1_hex(table.concat(parts)) .. "&timestamp=" .. timestamp .. "&nonce=" .. nonce
end

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  prefix = args[2]
  token = args[3]
end

local texts = {"小区门口路灯坏了好几天，晚上很危险", "公司拖欠工资三个月了，老板一直不给", "楼上装修噪音太大，周末一大早就开始"}

function request()
  counter = counter + 1
  local msg_id = prefix .. string.format("%02d%010d", tid, counter)
  local body = "<xml><ToUserName><![CDATA[gh_47bd9550a0a1]]></ToUserName><FromUserName><![CDATA[oBench"
    .. string.format("%05d", counter % 5000) .. "]]></FromUserName><CreateTime>" .. os.time()
    .. "</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[" .. texts[counter % 3 + 1]
    .. "]]></Content><MsgId>" .. msg_id .. "</MsgId></xml>"
  return wrk.format("POST", signed_path(msg_id), {["Content-Type"] = "text/xml"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "non2xx": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
