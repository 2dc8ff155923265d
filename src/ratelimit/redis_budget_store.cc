// The Redis side of the shared limiter: two small Lua scripts and a GET.
#include "ratelimit/redis_budget_store.h"

#include <openssl/evp.h>

#include <cstdio>

namespace portcullis::ratelimit {
namespace {

// KEYS[1] the window's counter; ARGV: want, limit, expire-at (Unix ms), divisor, at_least.
// The grant rule of budget_store.h; Lua numbers are doubles, exact below 2^53.
const std::string kReserve = R"lua(local taken = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = tonumber(ARGV[2]) - taken
if left <= 0 then return {0, taken} end
local share = math.max(tonumber(ARGV[5]), math.ceil(left / tonumber(ARGV[4])))
local grant = math.min(tonumber(ARGV[1]), share, left)
taken = redis.call('INCRBY', KEYS[1], grant)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {grant, taken}
)lua";

// KEYS[1] the counter; ARGV: n, expire-at (Unix ms). Returns the new total.
const std::string kAdd = R"lua(local taken = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return taken
)lua";

std::string sha1_hex(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha1(), nullptr);
  std::string hex;
  char two[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(two, sizeof two, "%02x", md[i]);
    hex += two;
  }
  return hex;
}

const std::string& reserve_sha() {
  static const std::string sha = sha1_hex(kReserve);
  return sha;
}
const std::string& add_sha() {
  static const std::string sha = sha1_hex(kAdd);
  return sha;
}

bool non_negative(const redis::Reply& r, std::uint64_t& out) {
  if (r.type != redis::Reply::Type::Integer || r.integer < 0) return false;
  out = static_cast<std::uint64_t>(r.integer);
  return true;
}

}  // namespace

RedisBudgetStore::RedisBudgetStore(redis::ClientOptions options)
    : client_(std::make_shared<redis::Client>(std::move(options))) {}

RedisBudgetStore::~RedisBudgetStore() {
  client_->stop();
}

const std::string& RedisBudgetStore::reserve_script() {
  return kReserve;
}

bool RedisBudgetStore::up() const {
  return client_->connected();
}

// EVALSHA first; a Redis that lost its script cache (restarted, SCRIPT FLUSH) answers
// NOSCRIPT, and the script goes once more in full within what is left of the timeout.
void RedisBudgetStore::eval(const std::string& script, const std::string& sha,
                            std::vector<std::string> keys_args, std::chrono::milliseconds timeout,
                            std::function<void(redis::CallResult)> done) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  std::vector<std::string> args{"EVALSHA", sha, "1"};
  args.insert(args.end(), keys_args.begin(), keys_args.end());
  std::weak_ptr<redis::Client> weak = client_;
  client_->call(
      std::move(args), timeout,
      [weak, &script, keys_args = std::move(keys_args), deadline,
       done = std::move(done)](redis::CallResult r) mutable {
        auto client = weak.lock();
        if (!client || !r.ok() || !r.reply.is_error() || !r.reply.str.starts_with("NOSCRIPT")) {
          return done(std::move(r));
        }
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return done(redis::CallResult{redis::CallError::Timeout, {}});
        std::vector<std::string> again{"EVAL", script, "1"};
        again.insert(again.end(), keys_args.begin(), keys_args.end());
        client->call(std::move(again), left, std::move(done));
      });
}

void RedisBudgetStore::reserve(const Reservation& r, std::chrono::milliseconds timeout,
                               StoreDone done) {
  eval(kReserve, reserve_sha(),
       {r.counter, std::to_string(r.want), std::to_string(r.limit), std::to_string(r.expire_at_ms),
        std::to_string(r.divisor), std::to_string(r.at_least)},
       timeout, [done = std::move(done)](redis::CallResult res) {
         StoreAnswer a;
         const auto& e = res.reply.elements;
         a.ok = res.ok() && res.reply.type == redis::Reply::Type::Array && e.size() == 2 &&
                non_negative(e[0], a.granted) && non_negative(e[1], a.taken);
         if (!a.ok) a = StoreAnswer{};
         done(a);
       });
}

void RedisBudgetStore::add(const std::string& counter, std::uint64_t n, std::int64_t expire_at_ms,
                           std::chrono::milliseconds timeout, StoreDone done) {
  eval(kAdd, add_sha(), {counter, std::to_string(n), std::to_string(expire_at_ms)}, timeout,
       [done = std::move(done)](redis::CallResult res) {
         StoreAnswer a;
         a.ok = res.ok() && non_negative(res.reply, a.taken);
         done(a);
       });
}

void RedisBudgetStore::read(const std::string& counter, std::chrono::milliseconds timeout,
                            StoreDone done) {
  client_->call({"GET", counter}, timeout, [done = std::move(done)](redis::CallResult res) {
    StoreAnswer a;
    if (res.ok() && res.reply.type == redis::Reply::Type::Nil) {
      a.ok = true;
    } else if (res.ok() && res.reply.type == redis::Reply::Type::String) {
      try {
        a.taken = std::stoull(res.reply.str);
        a.ok = true;
      } catch (const std::exception&) {
        a.ok = false;
      }
    }
    done(a);
  });
}

}  // namespace portcullis::ratelimit
