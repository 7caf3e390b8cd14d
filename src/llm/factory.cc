#include "llm/factory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "aws/credentials.h"
#include "llm/anthropic_client.h"
#include "llm/bedrock_client.h"
#include "platform/files.h"

namespace porch {

namespace {

// One backoff never waits longer than this; llm.max_retry_seconds bounds
// the whole.
constexpr double kMaxLlmBackoffSeconds = 30;
// Spreads clients that failed together apart.
constexpr double kLlmJitter = 0.25;

RetryBudget Budget(const LlmConfig& c) {
  RetryBudget b;
  b.max_attempts = c.max_attempts;
  b.backoff = {c.retry_base_seconds, /*multiplier=*/2, kMaxLlmBackoffSeconds, kLlmJitter};
  b.max_total_s = c.max_retry_seconds;
  return b;
}

std::string Get(const std::map<std::string, std::string>& env, const char* k) {
  auto it = env.find(k);
  return it == env.end() ? "" : it->second;
}

}  // namespace

Result<std::unique_ptr<LlmClient>> CreateLlmClient(const Config& config,
                                                   const std::map<std::string, std::string>& env,
                                                   const std::string& home, HttpClient* http,
                                                   Clock* clock) {
  const LlmConfig& c = config.llm;
  if (c.provider == "bedrock") {
    Result<AwsCredentials> creds = ResolveAwsCredentials(env, home, http);
    if (!creds.ok()) return creds.status().Annotate("bedrock");
    BedrockOptions o;
    o.region = c.region;
    o.model = c.bedrock_model;
    o.endpoint = c.bedrock_endpoint;
    o.credentials = *creds;
    o.timeout_s = c.timeout_seconds;
    o.retry = Budget(c);
    return std::unique_ptr<LlmClient>(new BedrockClient(http, clock, o));
  }
  if (c.provider != "anthropic") {
    return Status::InvalidArgument("unknown llm.provider '" + c.provider + "' (anthropic, bedrock)");
  }
  AnthropicOptions o;
  o.api_key = Get(env, "ANTHROPIC_API_KEY");
  if (o.api_key.empty()) o.api_key = c.api_key;
  if (o.api_key.empty()) {
    return Status::NotFound(
        "no Anthropic API key: looked at ANTHROPIC_API_KEY and llm.api_key (PORCH_LLM_API_KEY); "
        "set one, or use Bedrock with --use-bedrock and AWS credentials");
  }
  o.base_url = !c.base_url.empty() ? c.base_url : Get(env, "ANTHROPIC_BASE_URL");
  if (o.base_url.empty()) o.base_url = "https://api.anthropic.com";
  o.model = c.model;
  o.timeout_s = c.timeout_seconds;
  o.retry = Budget(c);
  return std::unique_ptr<LlmClient>(new AnthropicClient(http, clock, o));
}

namespace {

// The value of config key `key` or of variable `var`, by the precedence rule.
std::string Resolve(const LoadedConfig& config, const std::string& key, const std::string& value,
                    const std::map<std::string, std::string>& env, const char* var) {
  auto source = config.sources.find(key);
  const std::string kind = source == config.sources.end() ? "default" : source->second.kind;
  if ((kind == "flag" || kind == "run" || kind == "env") && !value.empty()) return value;
  const std::string from_env = Get(env, var);
  return from_env.empty() ? value : from_env;
}

}  // namespace

Result<std::string> ReadKeyFile(const std::string& path) {
  const std::string what = "llm.api_key_file '" + path + "'";
  // Read through the descriptor that was checked (no second open a link
  // could redirect), never blocking on a FIFO, at most 64 KiB.
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(what, errno);
  struct stat st;
  Status bad;
  if (fstat(fd, &st) != 0) {
    bad = Status::FromErrno(what, errno);
  } else if (!S_ISREG(st.st_mode)) {
    bad = Status::InvalidArgument(what + " is not a regular file");
  } else if (st.st_uid != geteuid()) {
    bad = Status::InvalidArgument(what + " belongs to another user; a key file must be your own");
  } else if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    bad = Status::InvalidArgument(what + " can be read by others (mode " + mode +
                                  "); make it yours alone: chmod 600 '" + path + "'");
  } else if (st.st_size > 64 * 1024) {
    bad = Status::InvalidArgument(what + " is too large to hold a key");
  }
  std::string text;
  if (bad.ok()) {
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        bad = Status::FromErrno(what, errno);
        break;
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > 64 * 1024) {
        bad = Status::InvalidArgument(what + " is too large to hold a key");
        break;
      }
    }
  }
  close(fd);
  if (!bad.ok()) return bad;
  const size_t first = text.find_first_not_of(" \t\r\n");
  const std::string key =
      first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
  if (key.empty()) return Status::InvalidArgument(what + " is empty");
  for (unsigned char ch : key) {
    if (ch < 0x21 || ch == 0x7f) {
      return Status::InvalidArgument(what + " holds more than one word or a control character; "
                                     "it must hold the key alone");
    }
  }
  return key;
}

Status ResolveLlmAccess(LoadedConfig* config, std::map<std::string, std::string>* env,
                        const std::string& home, bool ask_instance_metadata) {
  LlmConfig& c = config->config.llm;
  // The key file takes the place its own source gives it: a flag beats the
  // environment, which beats the config file.
  auto rank = [&](const std::string& key) {
    auto s = config->sources.find(key);
    const std::string kind = s == config->sources.end() ? "default" : s->second.kind;
    return kind == "flag" || kind == "run" ? 3 : kind == "env" ? 2 : kind == "file" ? 1 : 0;
  };
  const int key_rank = c.api_key.empty() ? -1 : rank("llm.api_key");
  const int file_rank = c.api_key_file.empty() || c.provider == "bedrock" ? -1 : rank("llm.api_key_file");
  const std::string from_env = Get(*env, "ANTHROPIC_API_KEY");
  const int env_rank = from_env.empty() ? -1 : 2;  // ANTHROPIC_API_KEY: below PORCH_LLM_API_KEY*
  if (file_rank >= 0 && file_rank > key_rank && (file_rank > env_rank || (file_rank == 2 && env_rank == 2))) {
    Result<std::string> key = ReadKeyFile(c.api_key_file);
    if (!key.ok()) return key.status();
    c.api_key = *key;
  } else {
    c.api_key = Resolve(*config, "llm.api_key", c.api_key, *env, "ANTHROPIC_API_KEY");
    c.api_key_file.clear();  // not the key in use: nodes must not read it instead
  }
  c.base_url = Resolve(*config, "llm.base_url", c.base_url, *env, "ANTHROPIC_BASE_URL");
  if (!c.api_key.empty()) (*env)["ANTHROPIC_API_KEY"] = c.api_key;
  if (!c.base_url.empty()) (*env)["ANTHROPIC_BASE_URL"] = c.base_url;
  const bool bedrock = c.provider == "bedrock" || config->config.docker.use_bedrock;
  if (bedrock && (Get(*env, "AWS_ACCESS_KEY_ID").empty() || Get(*env, "AWS_SECRET_ACCESS_KEY").empty())) {
    CurlHttpClient imds;
    Result<AwsCredentials> creds = ResolveAwsCredentials(*env, home, ask_instance_metadata ? &imds : nullptr);
    if (!creds.ok()) return Status::Ok();  // said when a client is made
    // An instance's role keys expire within hours: where attempts run on
    // the instance (or on nodes with roles of their own) each process asks
    // the metadata service itself. Containers may not reach it (IMDSv2's
    // hop limit is 1 by default), so they get the keys as they are now.
    if (creds->from_instance_metadata && config->config.backend != "docker" &&
        !config->config.docker.planner_in_docker) {
      return Status::Ok();
    }
    (*env)["AWS_ACCESS_KEY_ID"] = creds->access_key_id;
    (*env)["AWS_SECRET_ACCESS_KEY"] = creds->secret_access_key;
    if (creds->session_token.empty()) {
      env->erase("AWS_SESSION_TOKEN");  // a stale one would not match these keys
    } else {
      (*env)["AWS_SESSION_TOKEN"] = creds->session_token;
    }
    // Resolved: agents get the keys, not the profile (their HOME has no
    // ~/.aws, and the AWS SDKs skip keys in the environment when a profile
    // is named).
    env->erase("AWS_PROFILE");
  }
  return Status::Ok();
}

Result<ModelPrice> ConfiguredPrice(const Config& config) {
  if (!config.llm.price.empty()) return ParsePrice(config.llm.price);
  return PriceForModel(config.llm.provider == "bedrock" ? config.llm.bedrock_model
                                                        : config.llm.model);
}

}  // namespace porch
