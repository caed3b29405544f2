-- Remove a member from every queue and free its slot. Returns 1 if it held one.
-- ARGV: prefix, member, type (the caller's idea of it; meta may know another)
local p, m, t = ARGV[1], ARGV[2], ARGV[3]
local held = redis.call('SREM', p .. 'running', m)
local types = {t}
local known = redis.call('HGET', p .. 'meta:' .. m, 'type')
if known and known ~= t then
  table.insert(types, known)
end
for _, ty in ipairs(types) do
  redis.call('ZREM', p .. 'ready:' .. ty, m)
  redis.call('SREM', p .. 'running:' .. ty, m)
end
redis.call('ZREM', p .. 'delayed', m)
redis.call('DEL', p .. 'meta:' .. m)
return held
