-- Admits all the charges of one Take or none: the sliding log of
-- toolgate's redislimit (see redislimit.go). Times are Unix microseconds.
--
-- KEYS: for charge i, KEYS[2i-1] is its log (a sorted set: member
--   "seq:cost", score the entry's time) and KEYS[2i] its meta (a hash:
--   t = the sum of the log's costs, s = the last seq, w = window, x = max).
-- ARGV[1]: now, or "" for the server's clock.
-- ARGV[3i-1], ARGV[3i], ARGV[3i+1]: charge i's window, max and cost.
-- Returns {1, 0, 0} when admitted, {0, i-1, retry} when charge i is
-- denied: retry is the microseconds until it fits, or -1 for never.

if redis.replicate_commands then
  redis.replicate_commands() -- Redis < 7: replicate the writes, not TIME
end

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end

-- Integers as Redis reads them: Lua would print large ones as 1.7e+15.
local function int(x) return string.format('%d', x) end

local function cost(member) return tonumber(string.match(member, ':(%d+)$')) end

local n = #KEYS / 2
local function window(i) return tonumber(ARGV[3 * i - 1]) end
local function max(i) return tonumber(ARGV[3 * i]) end
local function charge(i) return tonumber(ARGV[3 * i + 1]) end

-- prune drops the entries at or before now - w and returns what the
-- remaining ones cost.
local function prune(log, meta, w)
  local total = tonumber(redis.call('HGET', meta, 't') or 0)
  local cutoff = int(now - w)
  local old = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
  if #old > 0 then
    for _, m in ipairs(old) do total = total - cost(m) end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff)
  end
  -- A log gone without its meta (evicted) costs nothing.
  if total ~= 0 and redis.call('ZCARD', log) == 0 then total = 0 end
  if #old > 0 then redis.call('HSET', meta, 't', int(total)) end
  return total
end

-- retry returns the microseconds until the oldest entries that free need
-- leave the window, or -1 if the whole log does not free it.
local function retry(log, need, w)
  local freed, start = 0, 0
  while true do
    local es = redis.call('ZRANGE', log, start, start + 99, 'WITHSCORES')
    if #es == 0 then return -1 end
    for k = 1, #es, 2 do
      freed = freed + cost(es[k])
      if freed >= need then return tonumber(es[k + 1]) + w - now end
    end
    start = start + 100
  end
end

for i = 1, n do
  local c = charge(i)
  if c > 0 then
    local log, meta, m = KEYS[2 * i - 1], KEYS[2 * i], max(i)
    if c > m then return {0, i - 1, -1} end
    -- Earlier charges of this Take on the same budget will be logged too.
    local pending = 0
    for j = 1, i - 1 do
      if KEYS[2 * j - 1] == log then pending = pending + charge(j) end
    end
    if pending > m then return {0, i - 1, -1} end
    local need = prune(log, meta, window(i)) + pending + c - m
    if need > 0 then return {0, i - 1, retry(log, need, window(i))} end
  end
end

for i = 1, n do
  local c = charge(i)
  if c > 0 then
    local log, meta, w = KEYS[2 * i - 1], KEYS[2 * i], window(i)
    -- Never log before the newest entry, so the log stays in order of
    -- admission even when callers' clocks disagree.
    local at = now
    local last = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
    if #last > 0 and tonumber(last[2]) > at then at = tonumber(last[2]) end
    local seq = redis.call('HINCRBY', meta, 's', 1)
    redis.call('ZADD', log, int(at), int(seq) .. ':' .. ARGV[3 * i + 1])
    redis.call('HINCRBY', meta, 't', ARGV[3 * i + 1])
    redis.call('HSET', meta, 'w', ARGV[3 * i - 1], 'x', ARGV[3 * i])
    -- Both keys live until their newest entry leaves the window.
    local ttl = int(math.ceil((at + w - now) / 1000) + 1)
    redis.call('PEXPIRE', log, ttl)
    redis.call('PEXPIRE', meta, ttl)
  end
end
return {1, 0, 0}
