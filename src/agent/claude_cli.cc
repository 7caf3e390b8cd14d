#include "agent/claude_cli.h"

#include <cstdlib>
#include <unistd.h>
#include <sstream>

#include "model/json_fields.h"
#include "platform/spawn.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

namespace {

// Where an attempt runs, for messages: the backend says (PORCH_PLACE), or a
// SLURM job, or this host.
std::string Place(const std::map<std::string, std::string>& env) {
  if (auto p = env.find("PORCH_PLACE"); p != env.end() && !p->second.empty()) return p->second;
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  if (env.count("SLURM_JOB_ID")) return std::string("on SLURM node ") + host;
  return std::string("on ") + host;
}

}  // namespace

std::vector<std::string> ClaudeCliExecutor::Argv(const AgentJob& job) {
  const AgentSettings& s = *job.settings;
  std::string prompt = job.prompt;
  if (!job.feedback.empty()) prompt += "\n\n" + job.feedback;
  std::vector<std::string> argv = {s.claude_path,       "-p",
                                   prompt,              "--output-format",
                                   "stream-json",       "--verbose",
                                   "--permission-mode", s.permission_mode,
                                   "--max-turns",       std::to_string(s.max_turns),
                                   "--no-session-persistence"};
  // On Bedrock the model is a Bedrock id: llm.bedrock_model unless
  // agent.model names one.
  const bool docker_bedrock = s.config.backend == "docker" && s.config.docker.use_bedrock;
  std::string model = s.model;
  if (model.empty() && docker_bedrock && s.config.docker.bedrock_model != DockerConfig{}.bedrock_model) {
    model = s.config.docker.bedrock_model;
  }
  if (model.empty() && (docker_bedrock || s.config.llm.provider == "bedrock")) {
    model = s.config.llm.bedrock_model;
  }
  if (!model.empty()) argv.insert(argv.end(), {"--model", model});
  if (s.max_budget_usd > 0) {
    std::ostringstream b;
    b << s.max_budget_usd;
    argv.insert(argv.end(), {"--max-budget-usd", b.str()});
  }
  if (!s.allowed_tools.empty()) argv.insert(argv.end(), {"--allowedTools", s.allowed_tools});
  if (!job.system_context.empty()) {
    argv.insert(argv.end(), {"--append-system-prompt", job.system_context});
  }
  return argv;
}

std::vector<std::string> ClaudeCliExecutor::Env(const AgentJob& job) {
  // Only what the CLI needs: no unrelated secrets reach the agent.
  static const char* const kPass[] = {
      "PATH", "LANG", "LC_ALL", "TERM", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
      "NODE_EXTRA_CA_CERTS", "CLAUDE_CODE_USE_BEDROCK", "ANTHROPIC_BEDROCK_BASE_URL",
      "CLAUDE_CODE_SKIP_BEDROCK_AUTH", "CLAUDE_CODE_MAX_RETRIES", "API_TIMEOUT_MS", "IS_SANDBOX"};
  const std::map<std::string, std::string>& from = job.settings->env;
  std::vector<std::string> env;
  const Config& c = job.settings->config;
  const bool bedrock = c.llm.provider == "bedrock";
  auto pass = [&](const std::string& name) {
    // The endpoint porch resolved (llm.base_url) is the one every agent
    // uses; on Bedrock the region and endpoint it resolved too.
    if (name == "ANTHROPIC_BASE_URL" && !c.llm.base_url.empty()) return;
    if (bedrock && (name == "AWS_REGION" || name == "ANTHROPIC_BEDROCK_BASE_URL")) return;
    if (auto v = from.find(name); v != from.end()) env.push_back(name + "=" + v->second);
  };
  for (const char* name : kPass) pass(name);
  for (const std::string& name : SecretVariables()) pass(name);
  for (const std::string& name : LlmVariables()) pass(name);
  for (const std::string& name : ProxyVariables()) pass(name);
  if (bedrock) {
    env.push_back("CLAUDE_CODE_USE_BEDROCK=1");
    env.push_back("AWS_REGION=" + c.llm.region);
    if (!c.llm.bedrock_endpoint.empty()) env.push_back("ANTHROPIC_BEDROCK_BASE_URL=" + c.llm.bedrock_endpoint);
  } else if (!c.llm.base_url.empty()) {
    env.push_back("ANTHROPIC_BASE_URL=" + c.llm.base_url);
  }
  env.push_back("HOME=" + job.settings->home);
  env.push_back("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1");
  return env;
}

AgentOutcome ParseClaudeResult(const std::string& stream) {
  AgentOutcome out;
  json result;
  std::istringstream in(stream);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"type\":\"result\"") == std::string::npos &&
        line.find("\"type\": \"result\"") == std::string::npos) {
      continue;
    }
    json j = json::parse(line, nullptr, false);
    if (JsonString(j, "type") == "result") result = j;
  }
  if (!result.is_object()) {
    out.reason = FailureReason::kAgentError;
    out.detail = "the Claude Code CLI ended without a result event (see stderr)";
    return out;
  }
  out.usage = Usage::FromJson(JsonField(result, "usage"));
  out.cost_usd = JsonNumber(result, "total_cost_usd");
  out.turns = static_cast<int>(JsonInt(result, "num_turns"));
  std::string subtype = JsonString(result, "subtype");
  const json& denials = result.contains("permission_denials") ? result["permission_denials"] : json();
  if (subtype == "error_max_turns") {
    out.reason = FailureReason::kMaxTurns;
    out.detail = "the agent used all its turns (" + std::to_string(out.turns) +
                 ") without finishing; raise agent.max_turns or split the task";
  } else if (JsonBool(result, "is_error")) {
    out.reason = FailureReason::kAgentError;
    std::string status = result.contains("api_error_status") && !result["api_error_status"].is_null()
                             ? " (API status " + result["api_error_status"].dump() + ")"
                             : "";
    out.detail = "the agent reported an error" + status + ": " +
                 JsonString(result, "result", subtype).substr(0, 500);
  } else if (denials.is_array() && !denials.empty()) {
    out.reason = FailureReason::kPermissionDenied;
    std::string tools;
    for (const json& d : denials) {
      std::string name = d.is_object() ? JsonString(d, "tool_name", "?") : d.dump();
      tools += (tools.empty() ? "" : ", ") + name;
    }
    out.detail = "the agent was denied tools it asked for: " + tools +
                 " (allow them with agent.allowed_tools)";
  }
  return out;
}

AgentOutcome ClaudeCliExecutor::Run(const AgentJob& job, bool* cancelled) {
  SpawnSpec spec;
  spec.argv = Argv(job);
  spec.env = Env(job);
  spec.workdir = job.workspace;
  spec.stdout_path = job.stdout_path;
  spec.stderr_path = job.stderr_path;
  spec.append = job.append_output;
  spec.time_limit_s = job.time_limit_s;
  spec.grace_s = job.grace_s;
  MakeDirs(job.settings->home).IgnoreError();  // the CLI says so if it cannot use it
  // Output of earlier rounds stays in the file; parse only this round's.
  size_t offset = 0;
  if (job.append_output) {
    Result<std::string> before = ReadFile(job.stdout_path);
    if (before.ok()) offset = before->size();
  }
  // Live progress: follow the event stream and keep progress.json current
  // (turns, the last tool used, tokens so far) for `porch status` and the
  // dashboard.
  size_t seen = offset;
  int turns = 0;
  int64_t tokens = 0;
  std::string last_tool;
  std::string progress_path = DirName(job.stdout_path) + "/progress.json";
  spec.on_tick = [&] {
    Result<std::string> text = ReadFile(job.stdout_path);
    if (!text.ok() || text->size() <= seen) return;
    size_t end = text->rfind('\n');
    if (end == std::string::npos || end < seen) return;
    std::istringstream in(text->substr(seen, end + 1 - seen));
    seen = end + 1;
    std::string line;
    while (std::getline(in, line)) {
      json e = json::parse(line, nullptr, false);
      if (JsonString(e, "type") != "assistant") continue;
      ++turns;
      const json& msg = JsonObject(e, "message");
      tokens += Usage::FromJson(JsonField(msg, "usage")).total();
      for (const json& b : JsonArray(msg, "content")) {
        if (JsonString(b, "type") == "tool_use") last_tool = JsonString(b, "name");
      }
    }
    WriteFileFast(progress_path, json({{"turns", turns}, {"last_tool", last_tool},
                                       {"tokens", tokens}}).dump() + "\n")
        .IgnoreError();  // progress display only
  };
  SpawnOutcome run = SpawnAndWait(spec, cancelled);
  if (spec.on_tick) spec.on_tick();
  AgentOutcome out;
  out.exit_code = run.exit_code;
  if (run.spawn_errno != 0) {
    out.reason = FailureReason::kCommandNotFound;
    out.detail = "the Claude Code CLI is not installed at '" + job.settings->claude_path +
                 "' (looked up " + Place(job.settings->env) +
                 "; install it with scripts/install-claude-code.sh, or set agent.claude_path for "
                 "this machine, docker.claude_path for the image, slurm.claude_path for the nodes)";
    return out;
  }
  if (run.cancelled) {
    out.reason = FailureReason::kCancelled;
    out.detail = "cancelled by porch";
    return out;
  }
  if (run.timed_out) {
    out.reason = FailureReason::kTimeout;
    out.detail = "the agent exceeded the task's time limit";
    return out;
  }
  Result<std::string> stream = ReadFile(job.stdout_path);
  std::string mine = stream.ok() && stream->size() >= offset ? stream->substr(offset) : "";
  out = ParseClaudeResult(mine);
  out.exit_code = run.exit_code;
  if (out.reason == FailureReason::kNone && run.exit_code != 0) {
    out.reason = FailureReason::kAgentError;
    out.detail = "the Claude Code CLI exited " + std::to_string(run.exit_code);
  }
  return out;
}

}  // namespace porch
