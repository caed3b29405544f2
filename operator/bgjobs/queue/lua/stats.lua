-- Counts for metrics and `kubectl bgjobs stats`: per type and priority, how
-- many are ready, delayed and running. ARGV: prefix.
-- Returns a flat list: kind, type, priority, count, ...
local p = ARGV[1]
local counts = {}
local function bump(kind, m)
  local meta = redis.call('HMGET', p .. 'meta:' .. m, 'type', 'priority')
  local key = kind .. '\0' .. (meta[1] or '?') .. '\0' .. (meta[2] or '?')
  counts[key] = (counts[key] or 0) + 1
end
for _, t in ipairs(redis.call('SMEMBERS', p .. 'types')) do
  for _, m in ipairs(redis.call('ZRANGE', p .. 'ready:' .. t, 0, -1)) do bump('ready', m) end
end
for _, m in ipairs(redis.call('ZRANGE', p .. 'delayed', 0, -1)) do bump('delayed', m) end
for _, m in ipairs(redis.call('SMEMBERS', p .. 'running')) do bump('running', m) end
local out = {}
for key, n in pairs(counts) do
  local kind, t, prio = key:match('^(.-)%z(.-)%z(.*)$')
  table.insert(out, kind); table.insert(out, t); table.insert(out, prio); table.insert(out, n)
end
return out
