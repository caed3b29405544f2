-- Counts for metrics and `kubectl bgjobs stats`: per type and priority, how
-- many are ready, delayed and running.
-- KEYS: delayed, running, type, priority, then ready:<type> for every type
-- Returns a flat list: kind, type, priority, count, ...
local counts = {}
local function bump(kind, m)
  local t = redis.call('HGET', KEYS[3], m)
  local prio = redis.call('HGET', KEYS[4], m)
  local key = kind .. '\0' .. (t or '?') .. '\0' .. (prio or '?')
  counts[key] = (counts[key] or 0) + 1
end
for i = 5, #KEYS do
  for _, m in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do bump('ready', m) end
end
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do bump('delayed', m) end
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do bump('running', m) end
local out = {}
for key, n in pairs(counts) do
  local kind, t, prio = key:match('^(.-)%z(.-)%z(.*)$')
  table.insert(out, kind); table.insert(out, t); table.insert(out, prio); table.insert(out, n)
end
return out
