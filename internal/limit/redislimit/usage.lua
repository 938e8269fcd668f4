-- Reports one budget of toolgate's redislimit without changing it.
-- KEYS[1] is its log, KEYS[2] its meta (see take.lua); ARGV[1] is now in
-- Unix microseconds, or "" for the server's clock.
-- Returns {used, max, window, next free}, or {0} when nothing is used.

local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local w = tonumber(redis.call('HGET', KEYS[2], 'w') or 0)
if w == 0 then return {0} end
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. string.format('%d', now - w), '+inf', 'WITHSCORES')
if #live == 0 then return {0} end
local used = 0
for k = 1, #live, 2 do
  used = used + tonumber(string.match(live[k], ':(%d+)$'))
end
return {used, tonumber(redis.call('HGET', KEYS[2], 'x')), w, tonumber(live[2]) + w - now}
