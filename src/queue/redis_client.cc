#include "queue/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace porch {

std::string RedisReply::text() const {
  if (type == Type::kString || type == Type::kStatus) return str;
  if (type == Type::kInteger) return std::to_string(integer);
  return "";
}

Result<RedisReply> RedisClient::Command(const RedisCommand& command) {
  Result<std::vector<RedisReply>> r = Pipeline({command});
  if (!r.ok()) return r.status();
  if (r->size() != 1) return Status::Internal("redis: expected one reply, got " + std::to_string(r->size()));
  return std::move((*r)[0]);
}

std::string RedisAddress::Shown() const {
  std::string host_part = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "redis://" + (user.empty() ? "" : user + "@") + host_part + ":" + std::to_string(port) + "/" +
         std::to_string(db);
}

namespace {

// %XX decoding of a URL part; false when a % is not followed by two hex digits.
bool PercentDecode(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    out->push_back(static_cast<char>(std::strtol(in.substr(i + 1, 2).c_str(), nullptr, 16)));
    i += 2;
  }
  return true;
}

bool AllDigits(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

Result<RedisAddress> ParseRedisUrl(const std::string& url, const std::string& password) {
  const std::string usage = " (expected redis://[:password@]host[:port][/db], e.g. redis://127.0.0.1:6379/0)";
  if (url.rfind("rediss://", 0) == 0) {
    return Status::InvalidArgument(
        "queue.url: rediss:// (TLS) is not supported by this build (hiredis 0.14 has no TLS); "
        "run a local TLS tunnel (stunnel) to the server and give its redis:// address");
  }
  if (url.rfind("redis://", 0) != 0) return Status::InvalidArgument("queue.url: not a redis:// URL" + usage);
  RedisAddress a;
  std::string rest = url.substr(8);
  // The user information ends at the last '@' (a password may hold '/' or
  // '@'); only then the path.
  std::string userinfo;
  bool has_userinfo = false;
  if (size_t at = rest.rfind('@'); at != std::string::npos) {
    userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    has_userinfo = true;
  }
  std::string path;
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    path = rest.substr(slash + 1);
    rest.resize(slash);
  }
  if (has_userinfo) {
    size_t colon = userinfo.find(':');
    std::string user = colon == std::string::npos ? userinfo : userinfo.substr(0, colon);
    std::string pass = colon == std::string::npos ? "" : userinfo.substr(colon + 1);
    if (!PercentDecode(user, &a.user) || !PercentDecode(pass, &a.password)) {
      return Status::InvalidArgument("queue.url: a bad %-escape in the user or password" + usage);
    }
    if (colon == std::string::npos) {  // redis://password@host, as redis-cli -u reads it
      a.password = a.user;
      a.user.clear();
    }
    if (!a.password.empty()) {
      return Status::InvalidArgument(
          "queue.url: carries a password, which would end up in the run's config.json and in `ps`; "
          "give it in a file (queue.password_file, --password-file) or in PORCH_QUEUE_PASSWORD");
    }
  }
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos) return Status::InvalidArgument("queue.url: an unclosed '[' in the host" + usage);
    a.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return Status::InvalidArgument("queue.url: junk after the host" + usage);
      port = rest.substr(close + 2);
    }
  } else if (size_t colon = rest.find(':'); colon != std::string::npos) {
    a.host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  } else {
    a.host = rest;
  }
  if (a.host.empty()) return Status::InvalidArgument("queue.url: no host" + usage);
  if (!port.empty()) {
    if (!AllDigits(port) || std::atoi(port.c_str()) < 1 || std::atoi(port.c_str()) > 65535) {
      return Status::InvalidArgument("queue.url: the port '" + port + "' is not a number from 1 to 65535" + usage);
    }
    a.port = std::atoi(port.c_str());
  }
  if (size_t q = path.find('?'); q != std::string::npos) path.resize(q);
  if (!path.empty()) {
    if (!AllDigits(path)) return Status::InvalidArgument("queue.url: the database '" + path + "' is not a number" + usage);
    a.db = std::atoi(path.c_str());
  }
  if (a.password.empty()) a.password = password;
  return a;
}

namespace {

RedisReply Convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = RedisReply::Type::kString; break;
    case REDIS_REPLY_STATUS: out.type = RedisReply::Type::kStatus; break;
    case REDIS_REPLY_ERROR: out.type = RedisReply::Type::kError; break;
    case REDIS_REPLY_INTEGER: out.type = RedisReply::Type::kInteger; break;
    case REDIS_REPLY_ARRAY: out.type = RedisReply::Type::kArray; break;
    default: out.type = RedisReply::Type::kNil; break;
  }
  if (r->str != nullptr) out.str.assign(r->str, r->len);
  out.integer = r->integer;
  for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; ++i) {
    out.elements.push_back(Convert(r->element[i]));
  }
  return out;
}

timeval Timeval(double seconds) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>((seconds - std::floor(seconds)) * 1e6);
  return tv;
}

}  // namespace

HiredisClient::HiredisClient(RedisAddress address, double timeout_s)
    : address_(std::move(address)), timeout_s_(timeout_s) {}

HiredisClient::~HiredisClient() { Drop(); }

void HiredisClient::SetTimeout(double seconds) {
  timeout_s_ = seconds;
  if (context_ != nullptr) redisSetTimeout(static_cast<redisContext*>(context_), Timeval(seconds));
}

void HiredisClient::Drop() {
  if (context_ != nullptr) redisFree(static_cast<redisContext*>(context_));
  context_ = nullptr;
}

Status HiredisClient::Connect() {
  Drop();
  redisContext* c = redisConnectWithTimeout(address_.host.c_str(), address_.port, Timeval(timeout_s_));
  if (c == nullptr) return Status::Unavailable("cannot reach Redis at " + address_.Shown() + ": out of memory");
  if (c->err != 0) {
    std::string why = c->errstr;
    redisFree(c);
    return Status::Unavailable("cannot reach Redis at " + address_.Shown() + ": " + why +
                               " (is redis-server running there? see docs/queue.md)");
  }
  redisSetTimeout(c, Timeval(timeout_s_));
  context_ = c;
  ++connections_;
  std::vector<RedisCommand> hello;
  if (!address_.password.empty()) {
    hello.push_back(address_.user.empty() ? RedisCommand{"AUTH", address_.password}
                                          : RedisCommand{"AUTH", address_.user, address_.password});
  }
  if (address_.db != 0) hello.push_back({"SELECT", std::to_string(address_.db)});
  hello.push_back({"PING"});
  Result<std::vector<RedisReply>> r = Send(hello);
  if (!r.ok()) {
    Drop();
    return r.status();
  }
  for (const RedisReply& reply : *r) {
    if (!reply.is_error()) continue;
    Drop();
    const bool auth = reply.str.find("NOAUTH") != std::string::npos || reply.str.find("WRONGPASS") != std::string::npos ||
                      reply.str.find("invalid password") != std::string::npos ||
                      reply.str.find("AUTH") != std::string::npos;
    return Status::Unavailable("Redis at " + address_.Shown() + " refused porch: " + reply.str +
                               (auth ? " (check the password: queue.password_file or PORCH_QUEUE_PASSWORD)" : ""));
  }
  return Status::Ok();
}

Result<std::vector<RedisReply>> HiredisClient::Send(const std::vector<RedisCommand>& commands) {
  auto* c = static_cast<redisContext*>(context_);
  for (const RedisCommand& cmd : commands) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (const std::string& a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) != REDIS_OK) {
      return Status::Unavailable("redis at " + address_.Shown() + ": " + c->errstr);
    }
  }
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
      return Status::Unavailable("the connection to Redis at " + address_.Shown() + " broke: " + c->errstr);
    }
    out.push_back(Convert(static_cast<redisReply*>(raw)));
    freeReplyObject(raw);
  }
  return out;
}

Result<std::vector<RedisReply>> HiredisClient::Pipeline(const std::vector<RedisCommand>& commands) {
  if (context_ != nullptr) {
    Result<std::vector<RedisReply>> r = Send(commands);
    if (r.ok()) return r;
    Drop();
  }
  // Not connected, or the connection broke (a restart): once more on a new one.
  if (Status st = Connect(); !st.ok()) return st;
  return Send(commands);
}

Result<std::unique_ptr<HiredisClient>> ConnectRedis(const RedisAddress& address, double timeout_s) {
  auto client = std::make_unique<HiredisClient>(address, timeout_s);
  if (Status st = client->Connect(); !st.ok()) return st;
  return client;
}

}  // namespace porch
