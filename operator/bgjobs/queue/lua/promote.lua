-- Move delayed members whose time has come to their ready queue.
-- KEYS: delayed, type, score, types, then ready:<type> for the types below
-- ARGV: now_ms, then member, type, index into KEYS of that type's ready key,
--       as the caller read them (type '' and index 0: it has no type).
-- A member no longer due, or of another type by now, is left for next time;
-- one with no type is dropped. Returns how many moved or dropped.
local now = tonumber(ARGV[1])
local moved = 0
for i = 2, #ARGV, 3 do
  local m, t, k = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local due = redis.call('ZSCORE', KEYS[1], m)
  if due and tonumber(due) <= now then
    local known = redis.call('HGET', KEYS[2], m)
    if not known then
      redis.call('ZREM', KEYS[1], m)
      moved = moved + 1
    elseif known == t and k > 0 then
      redis.call('ZREM', KEYS[1], m)
      redis.call('ZADD', KEYS[k], redis.call('HGET', KEYS[3], m) or 0, m)
      redis.call('SADD', KEYS[4], t)
      moved = moved + 1
    end
  end
end
return moved
