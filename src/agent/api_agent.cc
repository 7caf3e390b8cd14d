#include "agent/api_agent.h"

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "model/json_fields.h"
#include "platform/tree.h"
#include "platform/spawn.h"
#include "llm/factory.h"
#include "platform/files.h"
#include "platform/http.h"

namespace porch {

using nlohmann::json;

namespace {

// The run_command tool's limit, and how much of its output the model sees.
constexpr double kRunCommandSeconds = 120;
constexpr size_t kToolOutputBytes = 8000;
// How much of a tool's result the attempt's log keeps.
constexpr size_t kLoggedResultBytes = 2000;

// Sleeps without unblocking signals (the attempt process keeps them blocked)
// but notices a termination signal and turns it into a cancellation.
class AttemptClock : public Clock {
 public:
  explicit AttemptClock(bool* cancelled) : cancelled_(cancelled) {}
  double Now() override { return real_.Now(); }
  void SleepUntil(double deadline) override {
    double wait = deadline - Now();
    if (wait <= 0) return;
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    timespec ts{static_cast<time_t>(wait), static_cast<long>((wait - std::floor(wait)) * 1e9)};
    if (sigtimedwait(&set, nullptr, &ts) > 0) *cancelled_ = true;
  }

 private:
  RealClock real_;
  bool* cancelled_;
};

void Log(const std::string& path, const json& entry) {
  std::ofstream out(path, std::ios::app);
  out << entry.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
}

json Tool(const char* name, const char* description, json properties, json required) {
  return {{"name", name},
          {"description", description},
          {"input_schema", {{"type", "object"}, {"properties", properties}, {"required", required}}}};
}

}  // namespace

json ApiAgentExecutor::Tools(bool run_command) {
  json tools = json::array(
      {Tool("write_file", "Create or overwrite a file in the project (path relative to its root).",
            {{"path", {{"type", "string"}}}, {"content", {{"type", "string"}}}}, {"path", "content"}),
       Tool("read_file", "Read a file of the project.", {{"path", {{"type", "string"}}}}, {"path"}),
       Tool("list_files", "List the project's files (recursively).",
            {{"path", {{"type", "string"}}}}, json::array())});
  if (run_command) {
    tools.push_back(Tool("run_command", "Run a shell command in the project's root (120 s limit).",
                         {{"command", {{"type", "string"}}}}, {"command"}));
  }
  return tools;
}

std::pair<std::string, bool> ApiAgentExecutor::CallTool(const std::string& workspace,
                                                        const std::string& name,
                                                        const json& input, const AgentSettings& settings,
                                                        bool* cancelled) {
  const bool run_command = settings.run_command_tool;
  auto str = [&](const char* k) {
    auto it = input.find(k);
    return it != input.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (name == "list_files") {
    std::string rel = str("path").empty() ? "." : str("path");
    Result<std::string> dir = rel == "." ? Result<std::string>(workspace) : ResolveInWorkspace(workspace, rel);
    if (!dir.ok()) return {dir.status().message(), true};
    Result<std::map<std::string, FileDigest>> files = DigestTree(*dir);
    if (!files.ok()) return {files.status().message(), true};
    std::string out;
    for (const auto& [p, d] : *files) out += p + " (" + std::to_string(d.size) + " bytes)\n";
    return {out.empty() ? "(no files)" : out, false};
  }
  if (name == "read_file" || name == "write_file") {
    Result<std::string> path = ResolveInWorkspace(workspace, str("path"));
    if (!path.ok()) return {"refused: " + path.status().message(), true};
    if (name == "read_file") {
      Result<std::string> data = ReadFile(*path);
      if (!data.ok()) return {data.status().message(), true};
      return {data->substr(0, 100000), false};
    }
    if (!input.contains("content") || !input["content"].is_string()) {
      return {"write_file needs a string 'content'", true};
    }
    Status st = MakeDirs(DirName(*path));
    if (st.ok()) st = WriteFileFast(*path, input["content"].get<std::string>());
    if (!st.ok()) return {st.message(), true};
    return {"wrote " + std::to_string(input["content"].get<std::string>().size()) + " bytes to " +
                str("path"),
            false};
  }
  if (name == "run_command" && run_command) {
    std::string out_path = workspace + "/.porch-command-output";
    SpawnSpec spec;
    spec.argv = {"/bin/sh", "-c", str("command")};
    // The command gets porch's environment without porch's credentials.
    spec.env = EnvironmentFrom(settings.env, {}, SecretVariables());
    spec.workdir = workspace;
    spec.stdout_path = out_path;
    spec.stderr_path = out_path;
    spec.append = true;
    spec.time_limit_s = kRunCommandSeconds;
    unlink(out_path.c_str());
    SpawnOutcome o = SpawnAndWait(spec, cancelled);
    Result<std::string> text = ReadFile(out_path);
    unlink(out_path.c_str());
    std::string tail = text.ok() ? *text : "";
    if (tail.size() > kToolOutputBytes) tail = "..." + tail.substr(tail.size() - kToolOutputBytes);
    return {"exit " + std::to_string(o.exit_code) + (o.timed_out ? " (timed out)" : "") + "\n" + tail,
            o.exit_code != 0};
  }
  return {"unknown tool '" + name + "'", true};
}

namespace {

AgentOutcome Stopped(FailureReason reason, std::string detail) {
  AgentOutcome out;
  out.reason = reason;
  out.detail = std::move(detail);
  return out;
}

LlmRequest FirstRequest(const AgentJob& job) {
  const AgentSettings& s = *job.settings;
  LlmRequest req;
  if (!s.model.empty()) req.model = s.model;
  req.system = json::array({{{"type", "text"},
                             {"text", "You are an AI coding agent working in a project directory. "
                                      "Use the tools to create the files your task owns; paths "
                                      "are relative to the project root. When the task is done, "
                                      "reply with a short summary and no tool call.\n\n" +
                                          job.system_context},
                             {"cache_control", {{"type", "ephemeral"}}}}});
  req.tools = ApiAgentExecutor::Tools(s.run_command_tool);
  std::string prompt = job.prompt + (job.feedback.empty() ? "" : "\n\n" + job.feedback);
  req.messages = json::array({{{"role", "user"}, {"content", prompt}}});
  return req;
}

void WriteProgress(const AgentJob& job, const AgentOutcome& out, const std::string& last_tool) {
  WriteFileFast(DirName(job.stdout_path) + "/progress.json",
                json({{"turns", out.turns}, {"last_tool", last_tool},
                      {"tokens", out.usage.total()}, {"cost_usd", out.cost_usd}})
                        .dump() + "\n")
      .IgnoreError();  // progress display only
}

}  // namespace

json ApiAgentExecutor::RunTools(const AgentJob& job, const LlmResponse& resp, bool* cancelled,
                                std::string* last_tool) {
  json results = json::array();
  for (const json& block : resp.content) {
    if (JsonString(block, "type") != "tool_use") continue;
    const std::string name = JsonString(block, "name");
    const json input = JsonObject(block, "input");
    auto [content, is_error] = CallTool(job.workspace, name, input, *job.settings, cancelled);
    Log(job.stdout_path, {{"type", "tool"}, {"name", name}, {"input", input},
                          {"is_error", is_error}, {"result", content.substr(0, kLoggedResultBytes)}});
    *last_tool = name;
    results.push_back({{"type", "tool_result"},
                       {"tool_use_id", JsonString(block, "id")},
                       {"content", content},
                       {"is_error", is_error}});
  }
  return results;
}

namespace {

// Adds an answer to the conversation. An answer that continues a paused or
// cut-off one joins its message: turns must alternate user / assistant.
void AppendAnswer(LlmRequest* req, const json& content) {
  if (!content.is_array() || content.empty()) return;  // the API refuses empty content
  json& messages = req->messages;
  if (!messages.empty() && JsonString(messages.back(), "role") == "assistant" &&
      messages.back()["content"].is_array()) {
    for (const json& block : content) messages.back()["content"].push_back(block);
    return;
  }
  messages.push_back({{"role", "assistant"}, {"content", content}});
}

// What the loop does with an answer, by its stop reason.
enum class Step { kRunTools, kResend, kFail };

// Decides on `resp`; may change `req` (a larger max_tokens, the answer and a
// nudge appended) and fills `out` for kFail.
Step OnStopReason(const AgentSettings& s, const LlmResponse& resp, LlmRequest* req,
                  AgentOutcome* out) {
  const std::string& why = resp.stop_reason;
  if (why == "refusal") {
    std::string said = resp.Text().substr(0, 300);
    out->reason = FailureReason::kRefused;
    out->detail = "the model refused the task (stop_reason refusal)" +
                  (said.empty() ? std::string() : ": " + said);
    return Step::kFail;
  }
  if (why == "max_tokens" && resp.truncated_tool_use) {
    // A tool call (typically write_file with a whole file) did not fit:
    // ask the same again with room for it, up to the configured ceiling.
    if (req->max_tokens >= s.max_tokens_limit) {
      out->reason = FailureReason::kInvalidTask;
      out->detail = "a tool call did not fit in the model's answer even at max_tokens " +
                    std::to_string(req->max_tokens) +
                    " (agent.max_tokens_limit); ask for smaller files or raise the limit";
      return Step::kFail;
    }
    req->max_tokens = std::min(s.max_tokens_limit, req->max_tokens * 2);
    return Step::kResend;
  }
  bool calls_tools = false;
  for (const json& block : resp.content) calls_tools |= JsonString(block, "type") == "tool_use";
  if ((why == "max_tokens" && !calls_tools) || why == "pause_turn") {
    // A text answer cut off, or a turn the service paused: hand the answer
    // back so the model goes on from where it stopped.
    AppendAnswer(req, resp.content);
    if (why == "max_tokens") {
      req->messages.push_back({{"role", "user"},
                               {"content", "Your answer was cut off at the output limit. "
                                           "Continue where it stopped."}});
    }
    return Step::kResend;
  }
  if (why == "end_turn" || why == "tool_use" || why == "stop_sequence" || why == "max_tokens") {
    // max_tokens here: after whole tool calls, which are carried out; the
    // model goes on after their results.
    return Step::kRunTools;
  }
  // model_context_window_exceeded, or a reason this build does not know:
  // not a finished task.
  out->reason = why == "model_context_window_exceeded" ? FailureReason::kInvalidTask
                                                       : FailureReason::kAgentError;
  out->detail = "the model stopped with stop_reason '" + why + "'" +
                (why == "model_context_window_exceeded"
                     ? ": the conversation outgrew the model's context; split the task"
                     : ", which porch does not treat as a finished task");
  return Step::kFail;
}

std::string BudgetSpent(const AgentSettings& s, const AgentOutcome& out) {
  char spent[64];
  std::snprintf(spent, sizeof spent, "$%.4f of $%.4f", out.cost_usd, s.max_budget_usd);
  return std::string("the attempt's budget is spent (") + spent +
         ", agent.max_budget_usd) before the agent finished";
}

}  // namespace

AgentOutcome ApiAgentExecutor::Run(const AgentJob& job, bool* cancelled) {
  const AgentSettings& s = *job.settings;
  AttemptClock clock(cancelled);
  CurlHttpClient http;
  std::unique_ptr<LlmClient> owned;
  LlmClient* llm = llm_;
  if (!llm) {
    auto home = s.env.find("HOME");
    Result<std::unique_ptr<LlmClient>> made =
        CreateLlmClient(s.config, s.env, home == s.env.end() ? "" : home->second, &http, &clock);
    if (!made.ok()) return Stopped(FailureReason::kInvalidTask, made.status().message());
    owned = std::move(*made);
    llm = owned.get();
  }
  if (!job.append_output) {
    WriteFileFast(job.stdout_path, "").IgnoreError();
    WriteFileFast(job.stderr_path, "").IgnoreError();
  }
  const Result<ModelPrice> price = ConfiguredPrice(s.config);
  LlmRequest req = FirstRequest(job);
  // Within what the model can give in one answer.
  AgentSettings bounded = s;
  bounded.max_tokens_limit =
      std::min(s.max_tokens_limit, MaxOutputTokensForModel(req.model.empty() ? llm->model() : req.model));
  req.max_tokens = std::min(s.max_tokens, bounded.max_tokens_limit);
  AgentOutcome out;
  for (int turn = 1;; ++turn) {
    if (*cancelled) {
      out.reason = FailureReason::kCancelled;  // what was spent so far still counts
      out.detail = "cancelled by porch";
      return out;
    }
    if (turn > s.max_turns) {
      out.reason = FailureReason::kMaxTurns;
      out.detail = "the agent used all its turns (" + std::to_string(s.max_turns) +
                   ") without finishing; raise agent.max_turns or split the task";
      return out;
    }
    Result<LlmResponse> resp = CompleteCounted(llm, req, &out.usage);
    if (price.ok()) out.cost_usd = CostUsd(out.usage, *price);
    if (!resp.ok()) {
      out.reason = FailureReason::kAgentError;
      out.detail = resp.status().message();
      Log(job.stderr_path, {{"error", out.detail}});
      return out;
    }
    out.turns = turn;
    Log(job.stdout_path, {{"type", "assistant"}, {"turn", turn}, {"content", resp->content},
                          {"stop_reason", resp->stop_reason}, {"usage", resp->usage.ToJson()}});
    const Step step = OnStopReason(bounded, *resp, &req, &out);
    if (step == Step::kFail) {
      Log(job.stderr_path, {{"error", out.detail}});
      return out;
    }
    std::string last_tool;
    json results = step == Step::kRunTools ? RunTools(job, *resp, cancelled, &last_tool) : json::array();
    WriteProgress(job, out, last_tool);
    if (step == Step::kRunTools && results.empty()) return out;  // the model ended its turn: done
    if (s.max_budget_usd > 0 && out.cost_usd >= s.max_budget_usd) {
      out.reason = FailureReason::kAgentError;
      out.detail = BudgetSpent(s, out);
      return out;
    }
    if (step == Step::kResend) continue;
    AppendAnswer(&req, resp->content);
    req.messages.push_back({{"role", "user"}, {"content", results}});
  }
}

}  // namespace porch
