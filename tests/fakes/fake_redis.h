// A recording RedisClient for unit tests: keeps every command sent and
// answers each with what `answer` returns (nil by default). `down` makes
// every call fail as an unreachable server does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "queue/redis_client.h"

namespace porch {

class FakeRedis : public RedisClient {
 public:
  std::vector<RedisCommand> sent;
  std::function<RedisReply(const RedisCommand&)> answer;
  bool down = false;
  int calls_while_down = 0;

  Result<std::vector<RedisReply>> Pipeline(const std::vector<RedisCommand>& commands) override {
    if (down) {
      ++calls_while_down;
      return Status::Unavailable("cannot reach Redis at redis://fake: Connection refused");
    }
    std::vector<RedisReply> out;
    for (const RedisCommand& c : commands) {
      sent.push_back(c);
      out.push_back(answer ? answer(c) : RedisReply{});
    }
    return out;
  }

  // The commands sent whose first word is `verb`.
  std::vector<RedisCommand> Sent(const std::string& verb) const {
    std::vector<RedisCommand> out;
    for (const RedisCommand& c : sent) {
      if (!c.empty() && c[0] == verb) out.push_back(c);
    }
    return out;
  }

  static RedisReply Str(std::string s) {
    RedisReply r;
    r.type = RedisReply::Type::kString;
    r.str = std::move(s);
    return r;
  }
  static RedisReply Int(long long v) {
    RedisReply r;
    r.type = RedisReply::Type::kInteger;
    r.integer = v;
    return r;
  }
  static RedisReply Err(std::string s) {
    RedisReply r;
    r.type = RedisReply::Type::kError;
    r.str = std::move(s);
    return r;
  }
  static RedisReply Array(std::vector<RedisReply> elements) {
    RedisReply r;
    r.type = RedisReply::Type::kArray;
    r.elements = std::move(elements);
    return r;
  }
  // A field list: Array of Str(field), Str(value), ...
  static RedisReply Fields(const std::vector<std::string>& kv) {
    std::vector<RedisReply> e;
    for (const std::string& s : kv) e.push_back(Str(s));
    return Array(std::move(e));
  }
};

}  // namespace porch
