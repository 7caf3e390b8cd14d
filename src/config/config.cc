#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/strings.h"
#include "platform/files.h"

extern char** environ;

namespace porch {

namespace {
// A configuration file is small; anything larger is a mistake.
constexpr uint64_t kMaxConfigBytes = 1 << 20;
}  // namespace
namespace {

enum class Kind { kString, kInt, kDouble, kBool };

struct Field {
  const char* key;
  Kind kind;
  const char* help;
  bool secret;
  std::function<void*(Config&)> ptr;
};

template <typename T>
std::function<void*(Config&)> Member(T Config::*m) {
  return [m](Config& c) -> void* { return &(c.*m); };
}
template <typename S, typename T>
std::function<void*(Config&)> Member(S Config::*section, T S::*m) {
  return [section, m](Config& c) -> void* { return &((c.*section).*m); };
}

const std::vector<Field>& Fields() {
  static const std::vector<Field> fields = {
      {"requirements", Kind::kString, "the requirement text to plan from", false,
       Member(&Config::requirements)},
      {"output_dir", Kind::kString, "where runs are kept (<output_dir>/runs/<run-id>)", false,
       Member(&Config::output_dir)},
      {"max_executors", Kind::kInt, "M: tasks running at once", false,
       Member(&Config::max_executors)},
      {"backend", Kind::kString, "threading | docker | slurm | aws | queue", false,
       Member(&Config::backend)},
      {"fail_fast", Kind::kBool, "stop starting tasks after the first permanent failure", false,
       Member(&Config::fail_fast)},
      {"default_time_limit_seconds", Kind::kDouble,
       "time limit for tasks that set none (0: none)", false,
       Member(&Config::default_time_limit_seconds)},
      {"kill_grace_seconds", Kind::kDouble, "SIGTERM to SIGKILL grace when stopping a task",
       false, Member(&Config::kill_grace_seconds)},
      {"retry.max_retries", Kind::kInt, "retries after the first attempt", false,
       Member(&Config::retry, &RetryConfig::max_retries)},
      {"retry.retry_delay_seconds", Kind::kDouble, "first backoff delay", false,
       Member(&Config::retry, &RetryConfig::retry_delay_seconds)},
      {"retry.exponential_backoff", Kind::kBool, "multiply the delay after each failure", false,
       Member(&Config::retry, &RetryConfig::exponential_backoff)},
      {"retry.backoff_multiplier", Kind::kDouble, "factor between successive delays", false,
       Member(&Config::retry, &RetryConfig::backoff_multiplier)},
      {"retry.max_delay_seconds", Kind::kDouble, "cap on one delay", false,
       Member(&Config::retry, &RetryConfig::max_delay_seconds)},
      {"retry.jitter", Kind::kDouble, "random spread of a delay, as a fraction (0..1)", false,
       Member(&Config::retry, &RetryConfig::jitter)},
      {"docker.image", Kind::kString, "image for task containers", false,
       Member(&Config::docker, &DockerConfig::image)},
      {"docker.network", Kind::kString, "network for task containers", false,
       Member(&Config::docker, &DockerConfig::network)},
      {"docker.host", Kind::kString, "engine address (default: DOCKER_HOST or the local socket)",
       false, Member(&Config::docker, &DockerConfig::host)},
      {"docker.use_bedrock", Kind::kBool, "agents in containers use AWS Bedrock", false,
       Member(&Config::docker, &DockerConfig::use_bedrock)},
      {"docker.bedrock_region", Kind::kString, "Bedrock region", false,
       Member(&Config::docker, &DockerConfig::bedrock_region)},
      {"docker.bedrock_model", Kind::kString,
       "Bedrock model id for agents in containers (unchanged: llm.bedrock_model)", false,
       Member(&Config::docker, &DockerConfig::bedrock_model)},
      {"docker.planner_in_docker", Kind::kBool, "run the planner inside a container", false,
       Member(&Config::docker, &DockerConfig::planner_in_docker)},
      {"docker.porch_path", Kind::kString, "path of porch inside the image", false,
       Member(&Config::docker, &DockerConfig::porch_path)},
      {"docker.claude_path", Kind::kString,
       "the Claude Code CLI inside the image (agent.claude_path is the host's)", false,
       Member(&Config::docker, &DockerConfig::claude_path)},
      {"docker.build_context", Kind::kString,
       "directory to build the image from (Engine API) when it is missing; empty: fail",
       false, Member(&Config::docker, &DockerConfig::build_context)},
      {"docker.dockerfile", Kind::kString, "Dockerfile path inside docker.build_context", false,
       Member(&Config::docker, &DockerConfig::dockerfile)},
      {"docker.oom_memory_factor", Kind::kDouble,
       "an OOM-killed task's next attempt gets this much more memory (1: the same)", false,
       Member(&Config::docker, &DockerConfig::oom_memory_factor)},
      {"docker.max_memory", Kind::kString, "cap on memory grown after OOM kills", false,
       Member(&Config::docker, &DockerConfig::max_memory)},
      {"docker.engine_wait_seconds", Kind::kDouble,
       "how long an unreachable engine (a restart) is waited for before the run stops", false,
       Member(&Config::docker, &DockerConfig::engine_wait_seconds)},
      {"docker.poll_seconds", Kind::kDouble,
       "seconds between looks at the containers when the engine's event stream is down "
       "(while it is followed, an ending container is seen at once; the look is a backstop, "
       "at least every 2 s)",
       false, Member(&Config::docker, &DockerConfig::poll_seconds)},
      {"docker.planner_network", Kind::kString,
       "network of the planner container (host: it reaches the LLM endpoint porch reaches)",
       false, Member(&Config::docker, &DockerConfig::planner_network)},
      {"slurm.partition", Kind::kString, "partition (empty: the cluster default)", false,
       Member(&Config::slurm, &SlurmConfig::partition)},
      {"slurm.time_limit", Kind::kString, "default job time limit", false,
       Member(&Config::slurm, &SlurmConfig::time_limit)},
      {"slurm.memory", Kind::kString, "default job memory", false,
       Member(&Config::slurm, &SlurmConfig::memory)},
      {"slurm.cpus_per_task", Kind::kInt, "default CPUs per job", false,
       Member(&Config::slurm, &SlurmConfig::cpus_per_task)},
      {"slurm.gpus_per_task", Kind::kInt, "default GPUs per job", false,
       Member(&Config::slurm, &SlurmConfig::gpus_per_task)},
      {"slurm.gpu_partition", Kind::kString, "partition for GPU jobs", false,
       Member(&Config::slurm, &SlurmConfig::gpu_partition)},
      {"slurm.poll_interval_seconds", Kind::kDouble, "seconds between squeue polls", false,
       Member(&Config::slurm, &SlurmConfig::poll_interval_seconds)},
      {"slurm.extra_args", Kind::kString, "extra sbatch arguments (account, qos, ...)", false,
       Member(&Config::slurm, &SlurmConfig::extra_args)},
      {"slurm.porch_path", Kind::kString, "porch on the compute nodes (empty: this binary)",
       false, Member(&Config::slurm, &SlurmConfig::porch_path)},
      {"slurm.claude_path", Kind::kString,
       "the Claude Code CLI on the compute nodes (empty: agent.claude_path)", false,
       Member(&Config::slurm, &SlurmConfig::claude_path)},
      {"slurm.arrays", Kind::kBool, "submit ready tasks with equal resources as one job array",
       false, Member(&Config::slurm, &SlurmConfig::arrays)},
      {"slurm.max_array_size", Kind::kInt,
       "elements per job array (keep below the cluster's MaxArraySize, default 1001)", false,
       Member(&Config::slurm, &SlurmConfig::max_array_size)},
      {"slurm.dependencies", Kind::kString,
       "porch (submit a task once its dependencies succeeded) | slurm (submit it at once, "
       "held with --dependency=afterok)",
       false, Member(&Config::slurm, &SlurmConfig::dependencies)},
      {"slurm.max_memory", Kind::kString, "cap for memory doubled after OUT_OF_MEMORY", false,
       Member(&Config::slurm, &SlurmConfig::max_memory)},
      {"slurm.max_time_limit", Kind::kString, "cap for time doubled after TIMEOUT", false,
       Member(&Config::slurm, &SlurmConfig::max_time_limit)},
      {"slurm.export_env", Kind::kString, "sbatch --export (how credentials reach jobs)", false,
       Member(&Config::slurm, &SlurmConfig::export_env)},
      {"slurm.result_grace_seconds", Kind::kDouble,
       "how long to wait for a finished job's result file (shared filesystems lag)", false,
       Member(&Config::slurm, &SlurmConfig::result_grace_seconds)},
      {"slurm.command_timeout_seconds", Kind::kDouble, "timeout of one sbatch/squeue/... call",
       false, Member(&Config::slurm, &SlurmConfig::command_timeout_seconds)},
      {"slurm.bin_dir", Kind::kString, "directory of sbatch, squeue, ... (empty: PATH)", false,
       Member(&Config::slurm, &SlurmConfig::bin_dir)},
      {"aws.cluster_name", Kind::kString, "ParallelCluster name", false,
       Member(&Config::aws, &AwsConfig::cluster_name)},
      {"aws.region", Kind::kString, "AWS region", false,
       Member(&Config::aws, &AwsConfig::region)},
      {"aws.s3_bucket", Kind::kString, "bucket for run state", false,
       Member(&Config::aws, &AwsConfig::s3_bucket)},
      {"aws.s3_prefix", Kind::kString, "key prefix in the bucket", false,
       Member(&Config::aws, &AwsConfig::s3_prefix)},
      {"aws.endpoint", Kind::kString, "S3 endpoint override (S3-compatible stores)", false,
       Member(&Config::aws, &AwsConfig::endpoint)},
      {"queue.url", Kind::kString, "the Redis the workers read: redis://host:port/db (no password: see queue.password_file)", false,
       Member(&Config::queue, &QueueConfig::url)},
      {"queue.password_file", Kind::kString,
       "a file holding the Redis password (else PORCH_QUEUE_PASSWORD or REDISCLI_AUTH)", false,
       Member(&Config::queue, &QueueConfig::password_file)},
      {"queue.prefix", Kind::kString, "key prefix in Redis (porch and its workers must agree)", false,
       Member(&Config::queue, &QueueConfig::prefix)},
      {"queue.visibility_timeout", Kind::kDouble,
       "seconds without a worker's heartbeat before its attempt is taken back and run again", false,
       Member(&Config::queue, &QueueConfig::visibility_timeout)},
      {"queue.poll_seconds", Kind::kDouble, "longest wait of one blocking read of the run's result stream (Ctrl-C waits this long)", false,
       Member(&Config::queue, &QueueConfig::poll_seconds)},
      {"queue.wait_seconds", Kind::kDouble, "how long Redis may be unreachable before the run stops", false,
       Member(&Config::queue, &QueueConfig::wait_seconds)},
      {"queue.timeout_seconds", Kind::kDouble, "timeout of connecting to Redis and of one command", false,
       Member(&Config::queue, &QueueConfig::timeout_seconds)},
      {"queue.staging", Kind::kString, "shared: workers see the run directory on a shared filesystem; s3: files go through aws.s3_bucket", false,
       Member(&Config::queue, &QueueConfig::staging)},
      {"llm.provider", Kind::kString, "anthropic | bedrock", false,
       Member(&Config::llm, &LlmConfig::provider)},
      {"llm.model", Kind::kString, "model for planning and agents", false,
       Member(&Config::llm, &LlmConfig::model)},
      {"llm.api_key", Kind::kString, "Anthropic API key (prefer ANTHROPIC_API_KEY)", true,
       Member(&Config::llm, &LlmConfig::api_key)},
      {"llm.api_key_file", Kind::kString,
       "file holding the Anthropic API key (mode 0600); read where agents run, e.g. on SLURM nodes",
       false, Member(&Config::llm, &LlmConfig::api_key_file)},
      {"llm.base_url", Kind::kString, "Anthropic API endpoint override", false,
       Member(&Config::llm, &LlmConfig::base_url)},
      {"llm.region", Kind::kString, "Bedrock region", false,
       Member(&Config::llm, &LlmConfig::region)},
      {"llm.bedrock_model", Kind::kString, "Bedrock model id (global., eu., us. ids work)", false,
       Member(&Config::llm, &LlmConfig::bedrock_model)},
      {"llm.bedrock_endpoint", Kind::kString, "Bedrock endpoint override (tests, VPC endpoints)",
       false, Member(&Config::llm, &LlmConfig::bedrock_endpoint)},
      {"llm.timeout_seconds", Kind::kDouble, "time limit of one model request", false,
       Member(&Config::llm, &LlmConfig::timeout_seconds)},
      {"llm.max_attempts", Kind::kInt, "attempts per model request (429, 529, 5xx are retried)",
       false, Member(&Config::llm, &LlmConfig::max_attempts)},
      {"llm.retry_base_seconds", Kind::kDouble, "first retry delay (jittered, doubling)", false,
       Member(&Config::llm, &LlmConfig::retry_base_seconds)},
      {"llm.max_retry_seconds", Kind::kDouble, "no new attempt of a request after this long",
       false, Member(&Config::llm, &LlmConfig::max_retry_seconds)},
      {"llm.price", Kind::kString,
       "price override, USD per million tokens: input,output,cache_write,cache_read", false,
       Member(&Config::llm, &LlmConfig::price)},
      {"agent.executor", Kind::kString, "claude-cli (the Claude Code CLI) | api (porch's own loop)",
       false, Member(&Config::agent, &AgentConfig::executor)},
      {"agent.claude_path", Kind::kString, "the Claude Code CLI", false,
       Member(&Config::agent, &AgentConfig::claude_path)},
      {"agent.model", Kind::kString, "model for agents (empty: the executor's default)", false,
       Member(&Config::agent, &AgentConfig::model)},
      {"agent.max_turns", Kind::kInt, "turns an agent may take per round", false,
       Member(&Config::agent, &AgentConfig::max_turns)},
      {"agent.max_tokens", Kind::kInt, "API agent: output tokens per model answer", false,
       Member(&Config::agent, &AgentConfig::max_tokens)},
      {"agent.max_tokens_limit", Kind::kInt,
       "API agent: a tool call cut off at max_tokens is asked again with up to this many", false,
       Member(&Config::agent, &AgentConfig::max_tokens_limit)},
      {"agent.max_budget_usd", Kind::kDouble, "USD cap per attempt (0: none)", false,
       Member(&Config::agent, &AgentConfig::max_budget_usd)},
      {"agent.permission_mode", Kind::kString, "the CLI's --permission-mode", false,
       Member(&Config::agent, &AgentConfig::permission_mode)},
      {"agent.allowed_tools", Kind::kString, "the CLI's --allowedTools (e.g. \"Bash\")", false,
       Member(&Config::agent, &AgentConfig::allowed_tools)},
      {"agent.run_command_tool", Kind::kBool, "offer run_command to the API agent", false,
       Member(&Config::agent, &AgentConfig::run_command_tool)},
      {"agent.acceptance_rounds", Kind::kInt, "agent re-runs after a failed acceptance check",
       false, Member(&Config::agent, &AgentConfig::acceptance_rounds)},
      {"budget.usd", Kind::kDouble, "run-wide cost limit in USD (0: none)", false,
       Member(&Config::budget, &BudgetConfig::usd)},
      {"budget.tokens", Kind::kDouble, "run-wide token limit (0: none)", false,
       Member(&Config::budget, &BudgetConfig::tokens)},
      {"merge.conflict_policy", Kind::kString,
       "fail (default) | keep-later: two tasks writing one file differently", false,
       Member(&Config::merge, &MergeConfig::conflict_policy)},
      {"limits.max_plan_bytes", Kind::kString,
       "largest plan file porch reads (a size like 256M)", false,
       Member(&Config::limits, &LimitsConfig::max_plan_bytes)},
      {"limits.max_output_bytes", Kind::kString,
       "stdout and stderr of one attempt are each cut at this size (a marker says so)", false,
       Member(&Config::limits, &LimitsConfig::max_output_bytes)},
      {"merge.git", Kind::kBool, "make output/ a git repository, one commit per merged task",
       false, Member(&Config::merge, &MergeConfig::git)},
      {"merge.isolate_commands", Kind::kString,
       "auto | true | false: command tasks run in a workspace of their own and reach output/ "
       "through the merge, like AI tasks (output/ is copied per attempt); auto: when the plan "
       "has AI tasks",
       false, Member(&Config::merge, &MergeConfig::isolate_commands)},
      {"planner.min_tasks", Kind::kInt, "fewest tasks a plan may have", false,
       Member(&Config::planner, &PlannerConfig::min_tasks)},
      {"planner.max_tasks", Kind::kInt, "most tasks a plan may have", false,
       Member(&Config::planner, &PlannerConfig::max_tasks)},
      {"planner.max_attempts", Kind::kInt, "plan answers tried before planning fails", false,
       Member(&Config::planner, &PlannerConfig::max_attempts)},
  };
  return fields;
}

const Field* FindField(const std::string& key) {
  for (const Field& f : Fields()) {
    if (key == f.key) return &f;
  }
  return nullptr;
}

std::string KnownSections() {
  return "docker, slurm, aws, retry, llm, planner, agent, budget, merge";
}

std::string FormatNumber(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

Status ParseValue(const Field& f, const std::string& text, void* out) {
  auto bad = [&](const char* want) {
    return Status::InvalidArgument("'" + std::string(f.key) + "' must be " + want + ", found '" +
                                   text + "'");
  };
  switch (f.kind) {
    case Kind::kString:
      *static_cast<std::string*>(out) = text;
      return Status::Ok();
    case Kind::kInt: {
      int v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) return bad("an integer");
      *static_cast<int*>(out) = v;
      return Status::Ok();
    }
    case Kind::kDouble: {
      double v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) {
        return bad("a number");
      }
      *static_cast<double*>(out) = v;
      return Status::Ok();
    }
    case Kind::kBool: {
      std::string l;
      for (char c : text) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (l == "true" || l == "1" || l == "yes" || l == "on") {
        *static_cast<bool*>(out) = true;
      } else if (l == "false" || l == "0" || l == "no" || l == "off") {
        *static_cast<bool*>(out) = false;
      } else {
        return bad("true or false");
      }
      return Status::Ok();
    }
  }
  return Status::Internal("unhandled config kind");
}

std::string ValueText(const Field& f, Config& c) {
  void* p = f.ptr(c);
  switch (f.kind) {
    case Kind::kString: return *static_cast<std::string*>(p);
    case Kind::kInt: return std::to_string(*static_cast<int*>(p));
    case Kind::kDouble: {
      std::ostringstream os;
      os << *static_cast<double*>(p);
      return os.str();
    }
    case Kind::kBool: return *static_cast<bool*>(p) ? "true" : "false";
  }
  return "";
}

}  // namespace

std::string EnvNameForKey(const std::string& key) {
  std::string name = "PORCH_";
  for (char c : key) name += c == '.' ? '_' : static_cast<char>(std::toupper(c));
  return name;
}

ConfigLoader::ConfigLoader() {
  for (const Field& f : Fields()) loaded_.sources[f.key] = {"default", ""};
}

Status ConfigLoader::Set(const std::string& key, const std::string& value, ConfigSource source) {
  const Field* f = FindField(key);
  if (!f) {
    return Status::InvalidArgument("unknown configuration key '" + key +
                                   "' (see `porch config keys`)");
  }
  if (FindInvalidUtf8(value) != std::string::npos) {
    return Status::InvalidArgument("the value of '" + key + "' is not UTF-8 text");
  }
  std::string text = value;
  if (key == "merge.isolate_commands") {
    // Once a boolean: its spellings (yes, on, 1, True...) still mean the same.
    std::string l;
    for (char c : value) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (l == "1" || l == "yes" || l == "on" || l == "true") text = "true";
    if (l == "0" || l == "no" || l == "off" || l == "false") text = "false";
    if (l == "auto") text = "auto";
  }
  PORCH_RETURN_IF_ERROR(ParseValue(*f, text, f->ptr(loaded_.config)));
  loaded_.sources[key] = std::move(source);
  return Status::Ok();
}

Status ConfigLoader::ApplyFile(const std::string& path, const std::string& kind) {
  Result<std::string> text = ReadUserFile(path, kMaxConfigBytes, "config file");
  if (!text.ok()) return text.status();
  return ApplyText(*text, path, kind);
}

Status ConfigLoader::ApplyText(const std::string& text, const std::string& source, const std::string& kind) {
  if (size_t bad = FindInvalidUtf8(text); bad != std::string::npos) {
    const size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + bad, '\n'));
    return Status::InvalidArgument(source + ":" + std::to_string(line) + ": byte " + std::to_string(bad) +
                                   " is not UTF-8 (config files are UTF-8 text)");
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(source + ":" + std::to_string(e.mark.line + 1) +
                                   ": invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return Status::Ok();  // an empty file is fine
  if (!root.IsMap()) {
    return Status::InvalidArgument(source + ": a config file must be a mapping of keys");
  }
  auto where = [&](const YAML::Node& n) {
    return source + ":" + std::to_string(n.Mark().line + 1);
  };
  for (const auto& kv : root) {
    std::string name = kv.first.Scalar();
    if (kv.second.IsMap()) {
      bool section = false;
      for (const Field& f : Fields()) {
        if (std::string(f.key).rfind(name + ".", 0) == 0) section = true;
      }
      if (!section) {
        return Status::InvalidArgument(where(kv.first) + ": unknown section '" + name +
                                       "' (known: " + KnownSections() + ")");
      }
      for (const auto& inner : kv.second) {
        std::string key = name + "." + inner.first.Scalar();
        if (!FindField(key)) {
          return Status::InvalidArgument(where(inner.first) + ": unknown key '" + key +
                                         "' in section '" + name + "'");
        }
        if (!inner.second.IsScalar()) {
          return Status::InvalidArgument(where(inner.second) + ": '" + key +
                                         "' must be a single value");
        }
        Status st = Set(key, inner.second.Scalar(), {kind, where(inner.second)});
        if (!st.ok()) return st.Annotate(where(inner.second));
      }
      continue;
    }
    if (!FindField(name)) {
      return Status::InvalidArgument(where(kv.first) + ": unknown key '" + name + "'");
    }
    if (!kv.second.IsScalar()) {
      return Status::InvalidArgument(where(kv.second) + ": '" + name + "' must be a single value");
    }
    Status st = Set(name, kv.second.Scalar(), {kind, where(kv.second)});
    if (!st.ok()) return st.Annotate(where(kv.second));
  }
  return Status::Ok();
}

Status ConfigLoader::ApplyEnv(const std::map<std::string, std::string>& env) {
  for (const Field& f : Fields()) {
    std::string name = EnvNameForKey(f.key);
    auto it = env.find(name);
    if (it == env.end()) continue;
    Status st = Set(f.key, it->second, {"env", name});
    if (!st.ok()) return st.Annotate("environment variable " + name);
  }
  return Status::Ok();
}

Status ConfigLoader::ApplyFlag(const std::string& key, const std::string& value,
                               const std::string& flag) {
  Status st = Set(key, value, {"flag", flag});
  if (!st.ok()) return st.Annotate("flag " + flag);
  return Status::Ok();
}

namespace {

// The queue backend's settings, alone and against kill_grace_seconds.
Status CheckQueue(const Config& c) {
  if (!(c.queue.visibility_timeout >= 1) || !(c.queue.poll_seconds > 0) || !(c.queue.wait_seconds >= 0) ||
      !(c.queue.timeout_seconds > 0)) {
    return Status::InvalidArgument(
        "queue.visibility_timeout must be at least 1 s, and queue.poll_seconds and queue.timeout_seconds "
        "above 0 (queue.wait_seconds: 0 or more)");
  }
  if (c.backend == "queue" && c.kill_grace_seconds >= c.queue.visibility_timeout / 3) {
    return Status::InvalidArgument(
        "kill_grace_seconds (" + FormatNumber(c.kill_grace_seconds) + ") must be under a third of "
        "queue.visibility_timeout (" + FormatNumber(c.queue.visibility_timeout) + "): a worker cut off from "
        "Redis must have stopped its attempts before porch takes them back (docs/queue.md)");
  }
  if (c.queue.staging != "shared" && c.queue.staging != "s3") {
    return Status::InvalidArgument("queue.staging must be 'shared' (workers see the run directory on a shared "
                                   "filesystem) or 's3' (through the bucket aws.s3_bucket), not '" +
                                   c.queue.staging + "'");
  }
  if (c.queue.prefix.empty() || c.queue.prefix.find_first_of(" \t\n") != std::string::npos) {
    return Status::InvalidArgument("queue.prefix must be a non-empty name without spaces");
  }
  return Status::Ok();
}

}  // namespace

Status ConfigLoader::Check() const {
  const Config& c = loaded_.config;
  auto where = [&](const std::string& key) {
    const ConfigSource& s = loaded_.sources.at(key);
    return s.kind == "default" ? std::string("default") : s.kind + " " + s.detail;
  };
  if (c.max_executors < 1 || c.max_executors > 100000) {
    return Status::InvalidArgument("max_executors must be from 1 to 100000, found " +
                                   std::to_string(c.max_executors) + " (from " +
                                   where("max_executors") + ")");
  }
  if (c.backend != "threading" && c.backend != "docker" && c.backend != "slurm" &&
      c.backend != "aws" && c.backend != "queue") {
    return Status::InvalidArgument("unknown backend '" + c.backend +
                                   "' (known: threading, docker, slurm, aws, queue; from " +
                                   where("backend") + ")");
  }
  PORCH_RETURN_IF_ERROR(CheckQueue(c));
  if (c.retry.max_retries < 0 || c.retry.max_retries > 100) {
    return Status::InvalidArgument("retry.max_retries must be from 0 to 100");
  }
  if (c.retry.retry_delay_seconds < 0 || c.retry.max_delay_seconds < 0 ||
      c.retry.backoff_multiplier < 1) {
    return Status::InvalidArgument(
        "retry delays must be >= 0 and retry.backoff_multiplier >= 1");
  }
  if (c.retry.jitter < 0 || c.retry.jitter > 1) {
    return Status::InvalidArgument("retry.jitter must be from 0 to 1");
  }
  if (c.output_dir.empty()) return Status::InvalidArgument("output_dir must not be empty");
  for (const auto& [key, value] : {std::pair<const char*, const std::string*>{
                                       "limits.max_plan_bytes", &c.limits.max_plan_bytes},
                                   {"limits.max_output_bytes", &c.limits.max_output_bytes}}) {
    std::optional<uint64_t> bytes = ParseMemory(*value);
    if (!bytes || *bytes == 0) {
      return Status::InvalidArgument(std::string(key) + " must be a size like 256M or 1G, found '" +
                                     *value + "' (from " + where(key) + ")");
    }
  }
  if (c.llm.provider != "anthropic" && c.llm.provider != "bedrock") {
    return Status::InvalidArgument("llm.provider must be anthropic or bedrock, found '" +
                                   c.llm.provider + "'");
  }
  if (c.agent.executor != "claude-cli" && c.agent.executor != "api") {
    return Status::InvalidArgument("agent.executor must be claude-cli or api, found '" +
                                   c.agent.executor + "'");
  }
  if (c.agent.max_tokens < 1 || c.agent.max_tokens_limit < c.agent.max_tokens) {
    return Status::InvalidArgument("agent.max_tokens must be >= 1 and <= agent.max_tokens_limit, found " +
                                   std::to_string(c.agent.max_tokens) + " and " +
                                   std::to_string(c.agent.max_tokens_limit));
  }
  if (c.merge.isolate_commands != "auto" && c.merge.isolate_commands != "true" &&
      c.merge.isolate_commands != "false") {
    return Status::InvalidArgument("merge.isolate_commands must be auto, true or false, found '" +
                                   c.merge.isolate_commands + "'");
  }
  if (c.merge.conflict_policy != "fail" && c.merge.conflict_policy != "keep-later") {
    return Status::InvalidArgument("merge.conflict_policy must be fail or keep-later, found '" +
                                   c.merge.conflict_policy + "'");
  }
  if (c.planner.min_tasks < 1 || c.planner.max_tasks < c.planner.min_tasks ||
      c.planner.max_attempts < 1 || c.llm.max_attempts < 1) {
    return Status::InvalidArgument("planner.min_tasks must be >= 1 and <= planner.max_tasks; "
                                   "planner.max_attempts and llm.max_attempts must be >= 1");
  }
  return Status::Ok();
}

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return env;
}

const std::vector<std::string>& SecretVariables() {
  static const std::vector<std::string> kSecrets = {
      "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "PORCH_LLM_API_KEY",
      "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
  return kSecrets;
}

const std::vector<std::string>& LlmVariables() {
  static const std::vector<std::string> kLlm = {"ANTHROPIC_BASE_URL", "AWS_REGION", "AWS_PROFILE",
                                                "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED"};
  return kLlm;
}

const std::vector<std::string>& ProxyVariables() {
  static const std::vector<std::string> kProxy = {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                                  "NO_PROXY",    "no_proxy",    "ALL_PROXY",  "all_proxy"};
  return kProxy;
}

std::string FormatConfig(const LoadedConfig& loaded) {
  Config copy = loaded.config;
  std::string out;
  for (const Field& f : Fields()) {
    std::string value = ValueText(f, copy);
    if (f.secret && !value.empty()) value = "<redacted>";
    const ConfigSource& s = loaded.sources.at(f.key);
    std::string line = std::string(f.key) + " = " + (value.empty() ? "\"\"" : value);
    if (line.size() < 56) line.resize(56, ' ');
    out += line + "  # " + s.kind + (s.detail.empty() ? "" : " " + s.detail) + "\n";
  }
  return out;
}

std::string FormatConfigJson(const LoadedConfig& loaded) {
  Config copy = loaded.config;
  nlohmann::json out = nlohmann::json::object();
  for (const Field& f : Fields()) {
    std::string value = ValueText(f, copy);
    if (f.secret && !value.empty()) value = "<redacted>";
    const ConfigSource& s = loaded.sources.at(f.key);
    out[f.key] = {{"value", value}, {"source", s.kind}, {"detail", s.detail}};
  }
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<std::pair<std::string, std::string>> ConfigKeys() {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const Field& f : Fields()) keys.emplace_back(f.key, f.help);
  return keys;
}

}  // namespace porch
