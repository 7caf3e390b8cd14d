// The Redis seam: the queue backend and `porch worker` talk to Redis only
// through a RedisClient, so unit tests can record and script the commands
// (tests/fakes/fake_redis.h) and the real one can be swapped.
//
// The real client is hiredis 0.14 (Debian's libhiredis-dev), synchronous,
// one connection. It has no TLS: `rediss://` URLs are refused with a message
// that says how to get TLS anyway (a local stunnel), rather than pretending.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace porch {

// One reply, as RESP2 has them. A server error ("-ERR ...") is a reply of
// type kError, not a failed call: the caller decides what it means
// (BUSYGROUP is expected, NOAUTH is not).
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };
  Type type = Type::kNil;
  long long integer = 0;
  std::string str;                    // kString, kStatus, kError
  std::vector<RedisReply> elements;   // kArray

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
  bool is_array() const { return type == Type::kArray; }
  // kString/kStatus text, or the integer as text; "" otherwise.
  std::string text() const;
};

using RedisCommand = std::vector<std::string>;

class RedisClient {
 public:
  virtual ~RedisClient() = default;
  // Sends every command, then reads every reply: one round trip however
  // many commands (pipelining). One reply per command, in order. Fails with
  // Unavailable when the server cannot be reached or the connection broke
  // (after one reconnect attempt; a command may then have run or not, so
  // callers send only commands that are safe to repeat, or check).
  // Thread-compatible: one call at a time.
  virtual Result<std::vector<RedisReply>> Pipeline(const std::vector<RedisCommand>& commands) = 0;

  // Pipeline of one command.
  Result<RedisReply> Command(const RedisCommand& command);

  // How many connections were made so far: a change between two calls
  // means the connection broke in between (Redis restarted, or the network
  // did), even when the retry hid it from the call.
  virtual uint64_t connections() const { return 0; }

  // Bounds each later call (connecting, and each command's reply) to
  // `seconds`. The real client's default is its constructor's.
  virtual void SetTimeout(double seconds) { (void)seconds; }
};

// Where Redis is: parsed from redis://[[user]:password@]host[:port][/db].
struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string user;      // Redis 6 ACL user; empty: the default user
  std::string password;  // secret: never printed
  // The URL without the password, for messages.
  std::string Shown() const;
};

// Parses `url`. `password`, when not empty, is used when the URL has none
// (from queue.password_file or PORCH_QUEUE_PASSWORD / REDISCLI_AUTH).
// InvalidArgument naming what is wrong; never echoes the password.
Result<RedisAddress> ParseRedisUrl(const std::string& url, const std::string& password = "");

// A RedisClient over hiredis. Connects (and AUTH, SELECT) in Connect();
// every call reconnects once when the connection broke (Redis restarted).
class HiredisClient : public RedisClient {
 public:
  HiredisClient(RedisAddress address, double timeout_s);
  ~HiredisClient() override;
  HiredisClient(const HiredisClient&) = delete;
  HiredisClient& operator=(const HiredisClient&) = delete;

  // Connects, authenticates, selects the db and PINGs. Unavailable with the
  // cause (refused, timed out, wrong password), naming the address without
  // its password.
  Status Connect();
  Result<std::vector<RedisReply>> Pipeline(const std::vector<RedisCommand>& commands) override;
  uint64_t connections() const override { return connections_; }
  void SetTimeout(double seconds) override;

 private:
  Result<std::vector<RedisReply>> Send(const std::vector<RedisCommand>& commands);
  void Drop();

  RedisAddress address_;
  double timeout_s_;
  void* context_ = nullptr;  // redisContext*
  uint64_t connections_ = 0;
};

// Connects a HiredisClient, with clear errors (for `porch run` and
// `porch worker`).
Result<std::unique_ptr<HiredisClient>> ConnectRedis(const RedisAddress& address, double timeout_s);

}  // namespace porch
