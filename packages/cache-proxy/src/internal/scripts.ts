// The Lua scripts of the Redis index store. Each runs atomically in Redis, which is what makes
// the epoch/tombstone protocol (docs/cache-proxy-consistency.md) hold across proxy instances.
//
// Keys of one status S (all share the hash tag `{S}` of the key base, so one Redis Cluster slot):
//   <base>idx        sorted set: member = order id zero-padded to 20 digits, score = createdAt ms
//   <base>doc:<m>    the order's JSON exactly as the MES listed it
//   <base>total      the MES's total for S, kept right as orders come and go
//   <base>filled     present while the index may be served (PX ttlMs); value = the fill's epoch
//   <base>fillEpoch  epoch of the newest fill written (an older fill never overwrites it)
//   <base>epoch      counter: every removal and every read ticket increments it
//   <base>reset      epoch of the last time the index was dropped as unknowable
//   <base>added      hash: member -> "<epoch> <score>" of write-through adds not yet covered by
//                    a fill: the epoch when the add ran, after its read of the MES answered; a
//                    fill whose ticket is newer read the MES after that and has the order, an
//                    older one may have read before it and merges the add
//   <base>tomb:<m>   tombstone: the epoch at which the order was removed (PX tombstoneTtlMs)
//   <base>gen        a random nonce set by every script that may change what a page shows:
//                    with the fill's epoch it versions the rendered pages each proxy keeps
//                    (random, not a counter: an evicted counter could come back to an old
//                    value and make an old rendering look current)
//
// Every script that writes takes the nonce as its LAST argument (ARGV[#ARGV]).

/** Drops the oldest entries past maxDepth, with their documents and pending-add marks. */
const TRIM = `
local function trim(idx, added, base, maxDepth)
  local over = redis.call('ZCARD', idx) - maxDepth
  if over <= 0 then return end
  local popped = redis.call('ZPOPMIN', idx, over)
  for i = 1, #popped, 2 do
    redis.call('DEL', base .. 'doc:' .. popped[i])
    redis.call('HDEL', added, popped[i])
  end
end
`;

/** Which member of the index is lower: `s > ls` or equal scores and a larger id. */
const ABOVE_LOWEST = `
local function above_lowest(idx, s, m)
  local low = redis.call('ZRANGE', idx, 0, 0, 'WITHSCORES')
  if #low == 0 then return false end
  local ls = tonumber(low[2])
  return s > ls or (s == ls and m > low[1])
end
`;

/**
 * KEYS: idx, total, filled, fillEpoch, reset, added. ARGV: base, offset, count, fillDepth,
 * expired ('1': also from an index whose filled flag expired, stale-if-error).
 * Returns {'hit', total, version, doc...} | {'miss'} | {'stale'} | {'deep'}; version is
 * '<gen>:<filled>' ('' when gen is gone: the rendering is then not kept).
 */
export const PAGE_LUA = `
local expired = redis.call('EXISTS', KEYS[3]) == 0
if expired and ARGV[5] ~= '1' then
  if redis.call('EXISTS', KEYS[1]) == 1 then return {'stale'} end
  return {'miss'}
end
local total = tonumber(redis.call('GET', KEYS[2]) or '-1')
if total < 0 then return {'miss'} end
local zcard = redis.call('ZCARD', KEYS[1])
local off = tonumber(ARGV[2])
local cnt = tonumber(ARGV[3])
if off + cnt > zcard and zcard < total then
  if off + cnt <= tonumber(ARGV[4]) then return {'stale'} end
  return {'deep'}
end
local members = redis.call('ZREVRANGE', KEYS[1], off, off + cnt - 1)
local gen = redis.call('GET', ARGV[1] .. 'gen')
local version = ''
if gen and not expired then version = gen .. ':' .. redis.call('GET', KEYS[3]) end
local out = {'hit', tostring(total), version}
for i = 1, #members do
  local d = redis.call('GET', ARGV[1] .. 'doc:' .. members[i])
  if not d then return {'stale'} end
  out[#out + 1] = d
end
return out
`;

/**
 * KEYS: idx, total, filled, fillEpoch, reset, added, epoch.
 * ARGV: base, e0, ttlMs, dataTtlMs, maxDepth, snapshotTotal, n, then n x (member, score, doc)
 * newest first, then the nonce. Returns 'written' | 'incomplete' | 'superseded' | 'reset'.
 */
export const FILL_LUA = `${TRIM}
local base = ARGV[1]
local e0 = tonumber(ARGV[2])
local dataTtl = ARGV[4]
if tonumber(redis.call('GET', KEYS[5]) or '0') > e0 then return 'reset' end
if tonumber(redis.call('GET', KEYS[4]) or '0') > e0 then return 'superseded' end
redis.call('SET', base .. 'gen', ARGV[#ARGV])
local snapshotTotal = tonumber(ARGV[6])
local total = snapshotTotal
local n = tonumber(ARGV[7])
-- Write-through adds whose read of the MES may have answered after this fill's read: the
-- snapshot may predate them. Only an add made before this fill's ticket is covered by it.
local pending = {}
local added = redis.call('HGETALL', KEYS[6])
for i = 1, #added, 2 do
  local m = added[i]
  local sp = string.find(added[i + 1], ' ', 1, true)
  local t = tonumber(string.sub(added[i + 1], 1, sp - 1))
  if t >= e0 then
    local d = redis.call('GET', base .. 'doc:' .. m)
    if d then pending[#pending + 1] = {m, tonumber(string.sub(added[i + 1], sp + 1)), d} end
  else
    redis.call('HDEL', KEYS[6], m)
  end
end
local old = redis.call('ZRANGE', KEYS[1], 0, -1)
for i = 1, #old do redis.call('DEL', base .. 'doc:' .. old[i]) end
redis.call('DEL', KEYS[1])
local inSnapshot = {}
local lowS, lowM = nil, nil
for i = 0, n - 1 do
  local m = ARGV[8 + 3 * i]
  local s = tonumber(ARGV[9 + 3 * i])
  inSnapshot[m] = true
  lowS, lowM = s, m
  local tomb = redis.call('GET', base .. 'tomb:' .. m)
  if tomb and tonumber(tomb) > e0 then
    total = total - 1
  else
    redis.call('ZADD', KEYS[1], s, m)
    redis.call('SET', base .. 'doc:' .. m, ARGV[10 + 3 * i], 'PX', dataTtl)
  end
end
local complete = n >= snapshotTotal
local unknowable = false
for _, p in ipairs(pending) do
  local m, s, d = p[1], p[2], p[3]
  if not inSnapshot[m] then
    if complete or lowS == nil or s > lowS or (s == lowS and m > lowM) then
      redis.call('ZADD', KEYS[1], s, m)
      redis.call('SET', base .. 'doc:' .. m, d, 'PX', dataTtl)
      total = total + 1
    else
      unknowable = true
    end
  end
end
trim(KEYS[1], KEYS[6], base, tonumber(ARGV[5]))
redis.call('SET', KEYS[2], total, 'PX', dataTtl)
redis.call('PEXPIRE', KEYS[1], dataTtl)
redis.call('SET', KEYS[4], e0, 'PX', dataTtl)
if unknowable then
  redis.call('DEL', KEYS[3])
  return 'incomplete'
end
redis.call('SET', KEYS[3], e0, 'PX', ARGV[3])
return 'written'
`;

/**
 * KEYS: idx, total, filled, fillEpoch, reset, added, epoch.
 * ARGV: base, member, known ('1' when the order is known to have been in S), score ('' when
 * unknown), tombstoneTtlMs, nonce. Returns 'removed' | 'repeated' | 'absent' | 'stale'.
 */
export const REMOVE_LUA = `${ABOVE_LOWEST}
local base = ARGV[1]
local m = ARGV[2]
redis.call('SET', base .. 'gen', ARGV[#ARGV])
local e = redis.call('INCR', KEYS[7])
local tk = base .. 'tomb:' .. m
local had = redis.call('EXISTS', tk)
redis.call('SET', tk, e, 'PX', ARGV[5])
redis.call('HDEL', KEYS[6], m)
redis.call('DEL', base .. 'doc:' .. m)
if redis.call('ZREM', KEYS[1], m) == 1 then
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('DECR', KEYS[2]) end
  return 'removed'
end
if had == 1 then return 'repeated' end
if ARGV[3] ~= '1' or redis.call('EXISTS', KEYS[3]) == 0 then return 'absent' end
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('ZCARD', KEYS[1]) >= total then return 'absent' end
if ARGV[4] ~= '' and above_lowest(KEYS[1], tonumber(ARGV[4]), m) then return 'absent' end
-- An order of S beyond the cached depth left S: whether the last fill's total already
-- counted it out cannot be known, so the index goes and the next read fills it afresh.
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[5], e)
return 'stale'
`;

/**
 * KEYS: idx, total, filled, fillEpoch, reset, added, epoch.
 * ARGV: base, member, score, doc, ticket, dataTtlMs, maxDepth, maxPending, nonce.
 * Returns 'added' | 'present' | 'pending' | 'tombstoned' | 'stale'.
 *
 * The ticket was taken before the read of the MES; the read may have been answered after a
 * fill that took a later ticket read the list (a slow GET: a pool queue, a lagging replica), so
 * a filled index newer than the ticket does not show the order has been listed. What a fill
 * covers is told by the epoch now, after the read: a fill whose ticket is newer read after it.
 */
export const ADD_LUA = `${ABOVE_LOWEST}${TRIM}
local base = ARGV[1]
local m = ARGV[2]
local s = tonumber(ARGV[3])
local a = tonumber(ARGV[5])
local dataTtl = ARGV[6]
local tomb = redis.call('GET', base .. 'tomb:' .. m)
if tomb and tonumber(tomb) > a then return 'tombstoned' end
local mark = (redis.call('GET', KEYS[7]) or '0') .. ' ' .. ARGV[3]
redis.call('SET', base .. 'gen', ARGV[#ARGV])
local dk = base .. 'doc:' .. m
if redis.call('ZSCORE', KEYS[1], m) then
  redis.call('SET', dk, ARGV[4], 'PX', dataTtl)
  return 'present'
end
local function stale()
  local e = redis.call('INCR', KEYS[7])
  redis.call('DEL', KEYS[3])
  redis.call('SET', KEYS[5], e)
  return 'stale'
end
local f = redis.call('GET', KEYS[3])
if not f then
  -- No index to add to; a fill in flight may have read the MES before this order came.
  if redis.call('HLEN', KEYS[6]) >= tonumber(ARGV[8]) then return stale() end
  redis.call('HSET', KEYS[6], m, mark)
  redis.call('PEXPIRE', KEYS[6], dataTtl)
  redis.call('SET', dk, ARGV[4], 'PX', dataTtl)
  return 'pending'
end
local total = tonumber(redis.call('GET', KEYS[2]) or '0')
local zcard = redis.call('ZCARD', KEYS[1])
if zcard >= total or above_lowest(KEYS[1], s, m) then
  -- Remembered for a fill in flight that read the MES before this order came.
  if redis.call('HLEN', KEYS[6]) >= tonumber(ARGV[8]) then return stale() end
  redis.call('HSET', KEYS[6], m, mark)
  redis.call('PEXPIRE', KEYS[6], dataTtl)
  redis.call('ZADD', KEYS[1], s, m)
  redis.call('SET', dk, ARGV[4], 'PX', dataTtl)
  redis.call('INCR', KEYS[2])
  trim(KEYS[1], KEYS[6], base, tonumber(ARGV[7]))
  return 'added'
end
-- Beyond the cached depth: whether the last fill's total counted it cannot be known.
return stale()
`;

/**
 * KEYS: idx, total, filled, fillEpoch, reset, added, epoch. ARGV: base, nonce. Drops the index;
 * in-flight fills will not write.
 */
export const RESET_LUA = `
redis.call('SET', ARGV[1] .. 'gen', ARGV[#ARGV])
local e = redis.call('INCR', KEYS[7])
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[5], e)
return e
`;
